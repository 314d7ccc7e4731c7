// Trains each domain from the base, then merges every per-domain model or
// adapter so far: no data from earlier rounds is needed. One strategy, one
// merge method per registered name (merge/merge.h).
#include "loom/merge/merge.h"

#include "loom/core/error.h"
#include "loom/models/model_dir.h"
#include "strategies.h"

namespace loom {

namespace {

// The paper merges adapters with PEFT's add_weighted_adapter, which merges A
// and B separately (cross terms B_i A_j included): that is the default; the
// exact ΔW = s·B·A merge is the variant.
struct MergeStrategyOptions {
  LoraMergeMode lora_merge = LoraMergeMode::Peft;
  double density = 0.2;
};

const ParamSchema<MergeStrategyOptions>& merge_schema() {
  static const ParamSchema<MergeStrategyOptions> schema = [] {
    ParamSchema<MergeStrategyOptions> s;
    s.add_enum("lora_merge", &MergeStrategyOptions::lora_merge,
               EnumNames<LoraMergeMode>{{LoraMergeMode::Delta, "delta"}, {LoraMergeMode::Peft, "peft"}},
               "merging adapters: peft = A and B separately, as PEFT's add_weighted_adapter (the paper's); "
               "delta = the exact ΔW = s·B·A")
        .add("merge_density", &MergeStrategyOptions::density, "TIES/DARE density (share of each task vector kept)",
             {1e-9, 1});
    return s;
  }();
  return schema;
}

class Merge : public Strategy {
 public:
  Merge(std::string method, MergeStrategyOptions o) : method_(std::move(method)), o_(o) {}
  bool needs_past_data() const override { return false; }
  void check(const KnowledgeOptions& o) const override {
    if (o.tuning.tuning == Tuning::Lora && !o.tuning.lora.modules_to_save.empty())
      throw Error("merge strategies do not merge modules_to_save (lora_modules_to_save); use tuning: full");
  }
  CausalLM run_round(RoundContext& ctx) override {
    const int t = ctx.round();
    const auto& o = ctx.options();
    ctx.train(ctx.base_model(), ctx.training_data(t), o.steps_per_round);
    MergeOptions mo;
    // One source: nothing to combine (PEFT also falls back to linear then).
    mo.method = t == 0 ? "task_arithmetic" : method_;
    mo.seed = o.seed;
    const bool average = method_ == "linear";
    std::vector<MergeInput> inputs(static_cast<size_t>(t + 1),
                                   MergeInput{average ? 1.0 / (t + 1) : 1.0, t == 0 || average ? 1.0 : o_.density});
    CausalLM result = ctx.base_model();
    if (o.tuning.tuning == Tuning::Full) {
      std::vector<CausalLM> models;
      for (int j = 0; j <= t; ++j) models.push_back(load_model_dir(ctx.round_dir(j) + "/train/model").model);
      merge_models_into(*result, models, inputs, mo);
      return result;
    }
    std::vector<PeftAdapter> adapters;
    for (int j = 0; j <= t; ++j) adapters.push_back(load_peft_adapter(ctx.round_dir(j) + "/train/adapter"));
    if (o_.lora_merge == LoraMergeMode::Peft) {
      apply_peft_adapter(*result, merge_adapters_peft(adapters, inputs, mo));
      return merged(result);
    }
    merge_adapter_deltas_into(*result, adapters, inputs, mo);
    return result;
  }

 private:
  std::string method_;
  MergeStrategyOptions o_;
};

}  // namespace

void register_merges(Registry<StrategyEntry>& r) {
  auto merge = [](std::string method) {
    return [method](const Params& p, const KnowledgeOptions&) {
      return std::make_unique<Merge>(method, merge_schema().read(p));
    };
  };
  r.add("merge_average", {"per-domain models/adapters from the base, averaged (task arithmetic, 1/N)",
                          merge_schema().specs(), merge("linear")});
  r.add("merge_ties", {"per-domain models/adapters from the base, TIES-merged (merge_density)", merge_schema().specs(),
                       merge("ties")});
  r.add("merge_dare", {"per-domain models/adapters from the base, DARE-TIES-merged (merge_density)",
                       merge_schema().specs(), merge("dare_ties")});
}

}  // namespace loom
