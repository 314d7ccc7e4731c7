// Sequential, plus every earlier domain resampled to w_hist x |current|
// (the reference's replay; PAPERS.md §1).
#include "strategies.h"

namespace loom {

namespace {

struct ReplayOptions {
  double w_hist = 0.5;
};

const ParamSchema<ReplayOptions>& replay_schema() {
  static const ParamSchema<ReplayOptions> schema = [] {
    ParamSchema<ReplayOptions> s;
    s.add("replay_w_hist", &ReplayOptions::w_hist,
          "replay: each earlier domain resampled to w_hist x the current domain's size", {0, 1000});
    return s;
  }();
  return schema;
}

class Replay : public Strategy {
 public:
  explicit Replay(ReplayOptions o) : o_(o) {}
  bool needs_past_data() const override { return true; }
  CausalLM run_round(RoundContext& ctx) override {
    const int t = ctx.round();
    std::vector<Example> data = ctx.training_data(t);
    const size_t current = data.size();
    const auto n = static_cast<size_t>(o_.w_hist * static_cast<double>(current) + 0.5);
    for (int j = 0; j < t; ++j) {
      auto old =
          resample_examples(ctx.training_data(j), n, ctx.options().seed * 131 + static_cast<uint64_t>(t * 17 + j));
      data.insert(data.end(), std::make_move_iterator(old.begin()), std::make_move_iterator(old.end()));
    }
    const int64_t steps = steps_for_same_passes(ctx, data.size(), current);
    return merged(ctx.train(ctx.previous_model(), std::move(data), steps));
  }

 private:
  ReplayOptions o_;
};

}  // namespace

void register_replay(Registry<StrategyEntry>& r) {
  r.add("replay",
        {"sequential, plus earlier domains resampled to replay_w_hist x the new domain's size", replay_schema().specs(),
         [](const Params& p, const KnowledgeOptions&) { return std::make_unique<Replay>(replay_schema().read(p)); }});
}

}  // namespace loom
