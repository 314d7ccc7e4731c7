#include "loom/supernet/step.h"

#include <torch/torch.h>

#include "loom/core/error.h"
#include "loom/supernet/distill.h"

namespace loom {

const ParamSchema<DistillOptions>& distill_options_schema() {
  using O = DistillOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("alpha", &O::alpha, "subnets learn (1 - alpha) * task loss + alpha * KL from the maxnet's logits", {0, 1})
        .add("beta", &O::beta, "weight of hidden-state distillation per mapped layer", {0, 1e6})
        .add("temperature", &O::temperature, "distillation temperature", {1e-3, 1e3})
        .add("gamma", &O::gamma, "gradient scaling (n_max / n_j)^gamma of subnet j; 0 = off", {0, 10});
    return s;
  }();
  return schema;
}

nlohmann::json StepReport::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& s : subnets)
    rows.push_back({{"loss", s.loss},
                    {"task", s.task},
                    {"kd", s.kd},
                    {"hidden", s.hidden},
                    {"extra", s.extra},
                    {"scale", s.scale}});
  return {{"total", total}, {"subnets", rows}};
}

namespace {

double value_of(const torch::Tensor& t) { return t.defined() ? t.item<double>() : 0.0; }

}  // namespace

StepReport supernet_step(const std::vector<Genome>& subnets, const SubnetForward& forward,
                         const DistillOptions& options, const TrainableCount& trainable,
                         const HiddenProjection& projection) {
  if (subnets.empty()) throw Error("supernet step: no subnets to train");
  StepReport report;
  const bool keep_hidden = options.beta > 0 && subnets.size() > 1;
  const int64_t n_max = options.gamma != 0 ? trainable(subnets[0]) : 1;

  // The maxnet: its own task loss; its outputs, detached, teach the others.
  SubnetPass teacher = forward(subnets[0], {true, keep_hidden});
  if (!teacher.task_loss.defined()) throw Error("supernet step: the maxnet's pass has no task loss");
  torch::Tensor teacher_logits = teacher.logits.defined() ? teacher.logits.detach() : torch::Tensor();
  std::vector<torch::Tensor> teacher_hidden;
  for (auto& h : teacher.hidden) teacher_hidden.push_back(h.detach());
  {
    torch::Tensor loss = teacher.task_loss;
    if (teacher.extra_loss.defined()) loss = loss + teacher.extra_loss;
    SubnetStepReport r{subnets[0], loss.item<double>(), value_of(teacher.task_loss), 0, 0, value_of(teacher.extra_loss),
                       1.0};
    loss.backward();
    report.subnets.push_back(r);
    report.total += r.loss;
  }
  teacher = SubnetPass{};  // frees the maxnet's graph-holding tensors

  for (size_t j = 1; j < subnets.size(); ++j) {
    SubnetPass pass = forward(subnets[j], {false, keep_hidden});
    SubnetStepReport r;
    r.genome = subnets[j];
    torch::Tensor loss;
    auto add = [&](const torch::Tensor& term) { loss = loss.defined() ? loss + term : term; };
    if (pass.task_loss.defined() && options.alpha < 1) {
      add((1 - options.alpha) * pass.task_loss);
      r.task = pass.task_loss.item<double>();
    }
    if (options.alpha > 0 && pass.logits.defined() && teacher_logits.defined()) {
      const double rows =
          pass.kd_rows > 0 ? pass.kd_rows : static_cast<double>(std::max<int64_t>(1, pass.logits.size(0)));
      auto kd = kd_kl_sum(pass.logits, teacher_logits, options.temperature) / rows;
      add(options.alpha * kd);
      r.kd = kd.item<double>();
    }
    if (keep_hidden) {
      if (pass.hidden.size() != pass.hidden_teacher_layers.size())
        throw Error("supernet step: a subnet returned " + std::to_string(pass.hidden.size()) +
                    " hidden states but mapped " + std::to_string(pass.hidden_teacher_layers.size()));
      for (size_t i = 0; i < pass.hidden.size(); ++i) {
        const int64_t layer = pass.hidden_teacher_layers[i];
        if (layer < 0 || layer >= static_cast<int64_t>(teacher_hidden.size()))
          throw Error("supernet step: hidden state mapped to maxnet layer " + std::to_string(layer) +
                      ", but the maxnet returned " + std::to_string(teacher_hidden.size()));
        auto h = hidden_distill_loss(pass.hidden[i], teacher_hidden[static_cast<size_t>(layer)],
                                     projection ? projection(layer) : torch::Tensor());
        add(options.beta * h);
        r.hidden += h.item<double>();
      }
    }
    if (pass.extra_loss.defined()) {
      add(pass.extra_loss);
      r.extra = pass.extra_loss.item<double>();
    }
    if (!loss.defined()) continue;  // nothing to learn from (alpha = 1 without logits)
    r.scale = options.gamma != 0 ? gradient_scale(n_max, trainable(subnets[j]), options.gamma) : 1.0;
    loss = loss * r.scale;
    r.loss = loss.item<double>();
    loss.backward();
    report.total += r.loss;
    report.subnets.push_back(r);
  }
  return report;
}

}  // namespace loom
