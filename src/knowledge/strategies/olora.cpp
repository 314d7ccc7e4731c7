// O-LoRA: sequential LoRA with λ Σ |A_new A_prevᵀ| (elementwise L1, no L2
// term, as in the paper's reference; PAPERS.md §1). Earlier adapters are
// merged into the weights, their A matrices kept (read back from earlier
// rounds' adapter files).
#include "loom/core/error.h"
#include "strategies.h"

namespace loom {

torch::Tensor olora_penalty(const std::vector<torch::Tensor>& a_new, const std::vector<torch::Tensor>& a_prev) {
  if (a_new.size() != a_prev.size()) throw Error("O-LoRA: earlier adapters cover other modules than this round's");
  torch::Tensor total;
  for (size_t i = 0; i < a_new.size(); ++i) {
    auto term = torch::matmul(a_new[i], a_prev[i].t()).abs().sum();
    total = total.defined() ? total + term : term;
  }
  return total.defined() ? total : torch::zeros({});
}

namespace {

struct OLoraOptions {
  double lambda = 0.01;
};

const ParamSchema<OLoraOptions>& olora_schema() {
  static const ParamSchema<OLoraOptions> schema = [] {
    ParamSchema<OLoraOptions> s;
    s.add("olora_lambda", &OLoraOptions::lambda, "O-LoRA: weight of sum |A_new A_prev^T|", {0, 1e6});
    return s;
  }();
  return schema;
}

class OLora : public Strategy {
 public:
  explicit OLora(OLoraOptions o) : o_(o) {}
  bool needs_past_data() const override { return false; }
  void check(const KnowledgeOptions& o) const override {
    if (o.tuning.tuning != Tuning::Lora)
      throw Error("strategy 'olora' needs tuning: lora (its penalty is on LoRA's A matrices)");
  }
  CausalLM run_round(RoundContext& ctx) override {
    const int t = ctx.round();
    std::vector<std::vector<torch::Tensor>> earlier;  // per round, A matrices in module order
    for (int j = 0; j < t; ++j) {
      PeftAdapter a = load_peft_adapter(ctx.round_dir(j) + "/train/adapter");
      std::vector<torch::Tensor> mats;
      for (const auto& m : a.modules()) mats.push_back(a.factor(m, 'A'));
      earlier.push_back(std::move(mats));
    }
    std::vector<torch::Tensor> a_prev;
    if (!earlier.empty())
      for (size_t m = 0; m < earlier[0].size(); ++m) {
        std::vector<torch::Tensor> rows;
        for (const auto& r : earlier) rows.push_back(r.at(m));
        a_prev.push_back(torch::cat(rows, 0));
      }
    const double lambda = o_.lambda;
    auto configure = [&](Trainer& trainer) {
      if (a_prev.empty() || lambda == 0) return;
      CausalLM model = trainer.model();
      trainer.add_regularizer([model, a_prev, lambda]() mutable {
        // Sorted by module name, as PeftAdapter::modules() orders them.
        auto named = lora_A_matrices(*model);
        std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<torch::Tensor> a_new;
        for (auto& [name, a] : named) a_new.push_back(a);
        return olora_penalty(a_new, a_prev) * lambda;
      });
    };
    return merged(ctx.train(ctx.previous_model(), ctx.training_data(t), ctx.options().steps_per_round, configure));
  }

 private:
  OLoraOptions o_;
};

}  // namespace

void register_olora(Registry<StrategyEntry>& r) {
  r.add("olora",
        {"sequential LoRA with the O-LoRA penalty olora_lambda * sum |A_new A_prev^T|", olora_schema().specs(),
         [](const Params& p, const KnowledgeOptions&) { return std::make_unique<OLora>(olora_schema().read(p)); }});
}

}  // namespace loom
