// One model trained from the base on every domain so far, in natural
// proportions or with each domain upsampled to the largest.
#include "strategies.h"

namespace loom {

namespace {

struct JointOptions {
  bool balanced = false;
};

const ParamSchema<JointOptions>& joint_schema() {
  static const ParamSchema<JointOptions> schema = [] {
    ParamSchema<JointOptions> s;
    s.add("joint_balanced", &JointOptions::balanced,
          "joint: upsample every domain to the largest (false = natural proportions)");
    return s;
  }();
  return schema;
}

class Joint : public Strategy {
 public:
  explicit Joint(JointOptions o) : o_(o) {}
  bool needs_past_data() const override { return true; }
  CausalLM run_round(RoundContext& ctx) override {
    const int t = ctx.round();
    size_t largest = 0;
    for (int j = 0; j <= t; ++j) largest = std::max(largest, ctx.training_data(j).size());
    std::vector<Example> data;
    for (int j = 0; j <= t; ++j) {
      const auto& d = ctx.training_data(j);
      auto part = o_.balanced ? resample_examples(d, largest, ctx.options().seed * 977 + j) : d;
      data.insert(data.end(), part.begin(), part.end());
    }
    const int64_t steps = steps_for_same_passes(ctx, data.size(), ctx.training_data(t).size());
    return merged(ctx.train(ctx.base_model(), std::move(data), steps));
  }

 private:
  JointOptions o_;
};

}  // namespace

void register_joint(Registry<StrategyEntry>& r) {
  r.add("joint",
        {"one model from the base on all domains so far (joint_balanced upsamples)", joint_schema().specs(),
         [](const Params& p, const KnowledgeOptions&) { return std::make_unique<Joint>(joint_schema().read(p)); }});
}

}  // namespace loom
