// Coordinate-wise trimmed mean (Yin et al., 2018): drop ⌊βK⌋ values at each end.
#include <cmath>

#include "aggregators.h"
#include "loom/core/error.h"

namespace loom::fl {

namespace {

struct TrimmedMeanOptions {
  double beta = 0.2;
};

const ParamSchema<TrimmedMeanOptions>& trimmed_mean_schema() {
  static const ParamSchema<TrimmedMeanOptions> schema = [] {
    ParamSchema<TrimmedMeanOptions> s;
    s.add("trim_beta", &TrimmedMeanOptions::beta,
          "trimmed_mean: share of values dropped at each end per coordinate (below 0.5)", {0, 0.5});
    return s;
  }();
  return schema;
}

class TrimmedMean : public Aggregator {
 public:
  explicit TrimmedMean(double beta) : beta_(beta) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0);
    const auto t = static_cast<int64_t>(std::floor(beta_ * static_cast<double>(K)));
    auto sorted = std::get<0>(r.updates.sort(0));
    return {sorted.slice(0, t, K - t).mean(0), window_shares(r.updates, t, K - t)};
  }

 private:
  double beta_;
};

}  // namespace

void register_trimmed_mean(Registry<AggregatorEntry>& r) {
  r.add("trimmed_mean", {"coordinate-wise mean without floor(trim_beta K) values at each end",
                         trimmed_mean_schema().specs(), [](const Params& p) {
                           auto o = trimmed_mean_schema().read(p);
                           if (!(o.beta < 0.5)) throw Error("trim_beta must be below 0.5");
                           return std::unique_ptr<Aggregator>(std::make_unique<TrimmedMean>(o.beta));
                         }});
}

}  // namespace loom::fl
