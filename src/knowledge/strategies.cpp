// The built-in strategies and the registry. Each strategy is a small policy
// over RoundContext; training, saving and resuming live in the harness.
#include <map>
#include <mutex>
#include <random>

#include "loom/core/error.h"
#include "loom/knowledge/strategy.h"
#include "loom/adapters/lora.h"
#include "loom/models/model_dir.h"
#include "loom/train/trainer.h"

namespace loom {

Setting setting_from_name(const std::string& name, const std::string& origin) {
  if (name == "semi_cooperative") return Setting::SemiCooperative;
  if (name == "fully_cooperative") return Setting::FullyCooperative;
  throw Error(origin + ": unknown setting '" + name + "'; valid: semi_cooperative, fully_cooperative");
}

Tuning tuning_from_name(const std::string& name, const std::string& origin) {
  if (name == "lora") return Tuning::Lora;
  if (name == "full") return Tuning::Full;
  throw Error(origin + ": unknown tuning '" + name + "'; valid: lora, full");
}

const char* setting_name(Setting s) { return s == Setting::SemiCooperative ? "semi_cooperative" : "fully_cooperative"; }
const char* tuning_name(Tuning t) { return t == Tuning::Lora ? "lora" : "full"; }

std::vector<Example> resample_examples(const std::vector<Example>& data, size_t n, uint64_t seed) {
  std::vector<Example> out;
  if (data.empty()) return out;
  out.reserve(n);
  for (uint64_t pass = 0; out.size() < n; ++pass)
    for (size_t i : shuffled_indices(data.size(), seed, pass)) {
      if (out.size() == n) break;
      out.push_back(data[i]);
    }
  return out;
}

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

// Steps for a round on `total` examples that give the new domain (`current`
// examples) as many passes as sequential training gives it.
int64_t steps_for_same_passes(const RoundContext& ctx, size_t total, size_t current) {
  return static_cast<int64_t>(static_cast<double>(ctx.options().steps_per_round) * static_cast<double>(total) /
                                  static_cast<double>(current) +
                              0.5);
}

LlamaForCausalLM finish(LlamaForCausalLM model) {
  merge_lora(model);
  return model;
}

// Each round continues from the previous round's merged model on new data only.
class Sequential : public Strategy {
 public:
  bool needs_past_data() const override { return false; }
  LlamaForCausalLM run_round(RoundContext& ctx) override {
    const auto& data = ctx.training_data(ctx.round());
    return finish(ctx.train(ctx.previous_model(), data, ctx.options().steps_per_round));
  }
};

// Sequential, plus every earlier domain resampled to w_hist x |current|.
class Replay : public Strategy {
 public:
  bool needs_past_data() const override { return true; }
  LlamaForCausalLM run_round(RoundContext& ctx) override {
    const int t = ctx.round();
    std::vector<Example> data = ctx.training_data(t);
    const size_t current = data.size();
    const auto n = static_cast<size_t>(ctx.options().replay_w_hist * static_cast<double>(current) + 0.5);
    for (int j = 0; j < t; ++j) {
      auto old =
          resample_examples(ctx.training_data(j), n, ctx.options().seed * 131 + static_cast<uint64_t>(t * 17 + j));
      data.insert(data.end(), std::make_move_iterator(old.begin()), std::make_move_iterator(old.end()));
    }
    const int64_t steps = steps_for_same_passes(ctx, data.size(), current);
    return finish(ctx.train(ctx.previous_model(), std::move(data), steps));
  }
};

// One model trained from the base on every domain so far, in natural
// proportions or with each domain upsampled to the largest.
class Joint : public Strategy {
 public:
  bool needs_past_data() const override { return true; }
  LlamaForCausalLM run_round(RoundContext& ctx) override {
    const int t = ctx.round();
    size_t largest = 0;
    for (int j = 0; j <= t; ++j) largest = std::max(largest, ctx.training_data(j).size());
    std::vector<Example> data;
    for (int j = 0; j <= t; ++j) {
      const auto& d = ctx.training_data(j);
      auto part = ctx.options().joint_balanced ? resample_examples(d, largest, ctx.options().seed * 977 + j) : d;
      data.insert(data.end(), part.begin(), part.end());
    }
    const int64_t steps = steps_for_same_passes(ctx, data.size(), ctx.training_data(t).size());
    return finish(ctx.train(ctx.base_model(), std::move(data), steps));
  }
};

// Sequential LoRA with λ Σ |A_new A_prevᵀ|; earlier adapters are merged into
// the weights, their A matrices kept (read back from earlier rounds' adapters).
class OLora : public Strategy {
 public:
  bool needs_past_data() const override { return false; }
  void check(const KnowledgeOptions& o) const override {
    if (o.tuning != Tuning::Lora)
      throw Error("strategy 'olora' needs tuning: lora (its penalty is on LoRA's A matrices)");
  }
  LlamaForCausalLM run_round(RoundContext& ctx) override {
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
    const double lambda = ctx.options().olora_lambda;
    auto configure = [&](Trainer& trainer) {
      if (a_prev.empty() || lambda == 0) return;
      LlamaForCausalLM model = trainer.model();
      trainer.add_regularizer([model, a_prev, lambda]() mutable {
        // Sorted by module name, as PeftAdapter::modules() orders them.
        auto named = lora_A_matrices(model);
        std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<torch::Tensor> a_new;
        for (auto& [name, a] : named) a_new.push_back(a);
        return olora_penalty(a_new, a_prev) * lambda;
      });
    };
    return finish(ctx.train(ctx.previous_model(), ctx.training_data(t), ctx.options().steps_per_round, configure));
  }
};

// Trains each domain from the base, then merges every per-domain model or
// adapter so far: no data from earlier rounds is needed.
class Merge : public Strategy {
 public:
  explicit Merge(MergeMethod method) : method_(method) {}
  bool needs_past_data() const override { return false; }
  LlamaForCausalLM run_round(RoundContext& ctx) override {
    const int t = ctx.round();
    const auto& o = ctx.options();
    ctx.train(ctx.base_model(), ctx.training_data(t), o.steps_per_round);
    MergeOptions mo;
    // One source: nothing to combine (PEFT also falls back to linear then).
    mo.method = t == 0 ? MergeMethod::TaskArithmetic : method_;
    mo.seed = o.seed;
    const bool average = method_ == MergeMethod::Linear;
    std::vector<MergeInput> inputs(static_cast<size_t>(t + 1), MergeInput{average ? 1.0 / (t + 1) : 1.0,
                                                                          t == 0 || average ? 1.0 : o.merge_density});
    LlamaForCausalLM merged = ctx.base_model();
    if (o.tuning == Tuning::Full) {
      std::vector<LlamaForCausalLM> models;
      for (int j = 0; j <= t; ++j) models.push_back(load_model_dir(ctx.round_dir(j) + "/train/model").model);
      merge_models_into(merged, models, inputs, mo);
      return merged;
    }
    std::vector<PeftAdapter> adapters;
    for (int j = 0; j <= t; ++j) adapters.push_back(load_peft_adapter(ctx.round_dir(j) + "/train/adapter"));
    if (o.lora_merge == LoraMergeMode::Peft) {
      apply_peft_adapter(merged, merge_adapters_peft(adapters, inputs, mo));
      return finish(merged);
    }
    merge_adapter_deltas_into(merged, adapters, inputs, mo);
    return merged;
  }

 private:
  MergeMethod method_;
};

struct Registered {
  std::string help;
  StrategyFactory factory;
};

std::map<std::string, Registered>& registry() {
  static std::map<std::string, Registered> table = [] {
    std::map<std::string, Registered> t;
    auto simple = [](auto make) {
      return [make](const KnowledgeOptions&) -> std::unique_ptr<Strategy> { return make(); };
    };
    t["sequential"] = {"each round tunes the previous round's merged model on the new domain",
                       simple([] { return std::make_unique<Sequential>(); })};
    t["replay"] = {"sequential, plus earlier domains resampled to replay_w_hist x the new domain's size",
                   simple([] { return std::make_unique<Replay>(); })};
    t["joint"] = {"one model from the base on all domains so far (joint_balanced upsamples)",
                  simple([] { return std::make_unique<Joint>(); })};
    t["olora"] = {"sequential LoRA with the O-LoRA penalty olora_lambda * sum |A_new A_prev^T|",
                  simple([] { return std::make_unique<OLora>(); })};
    t["merge_average"] = {"per-domain models/adapters from the base, averaged (task arithmetic, 1/N)",
                          simple([] { return std::make_unique<Merge>(MergeMethod::Linear); })};
    t["merge_ties"] = {"per-domain models/adapters from the base, TIES-merged (merge_density)",
                       simple([] { return std::make_unique<Merge>(MergeMethod::Ties); })};
    t["merge_dare"] = {"per-domain models/adapters from the base, DARE-TIES-merged (merge_density)",
                       simple([] { return std::make_unique<Merge>(MergeMethod::DareTies); })};
    return t;
  }();
  return table;
}

std::mutex registry_mutex;

}  // namespace

void register_strategy(const std::string& name, const std::string& help, StrategyFactory factory) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (registry().count(name)) throw Error("a strategy named '" + name + "' is already registered");
  registry()[name] = {help, std::move(factory)};
}

std::vector<std::pair<std::string, std::string>> strategy_names_and_help() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, r] : registry()) out.push_back({name, r.help});
  return out;
}

std::unique_ptr<Strategy> make_strategy(const std::string& name, const KnowledgeOptions& options) {
  StrategyFactory factory;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    auto it = registry().find(name);
    if (it == registry().end()) {
      std::string valid;
      for (const auto& [n, r] : registry()) valid += (valid.empty() ? "" : ", ") + n;
      throw Error("unknown strategy '" + name + "'; valid: " + valid);
    }
    factory = it->second.factory;
  }
  auto strategy = factory(options);
  strategy->check(options);
  if (strategy->needs_past_data() && options.setting == Setting::SemiCooperative)
    throw Error("strategy '" + name +
                "' trains on earlier domains' data, which a semi_cooperative run does not keep; "
                "use setting: fully_cooperative, or a strategy that needs no old data "
                "(sequential, olora, merge_average, merge_ties, merge_dare)");
  return strategy;
}

}  // namespace loom
