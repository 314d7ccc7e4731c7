// Each round continues from the previous round's merged model on new data only.
#include "strategies.h"

namespace loom {

namespace {

class Sequential : public Strategy {
 public:
  bool needs_past_data() const override { return false; }
  CausalLM run_round(RoundContext& ctx) override {
    const auto& data = ctx.training_data(ctx.round());
    return merged(ctx.train(ctx.previous_model(), data, ctx.options().steps_per_round));
  }
};

}  // namespace

void register_sequential(Registry<StrategyEntry>& r) {
  r.add("sequential", {"each round tunes the previous round's merged model on the new domain",
                       {},
                       [](const Params&, const KnowledgeOptions&) { return std::make_unique<Sequential>(); }});
}

}  // namespace loom
