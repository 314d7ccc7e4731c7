// Coordinate-wise median (Yin et al., 2018).
#include "aggregators.h"

namespace loom::fl {

namespace {

class Median : public Aggregator {
 public:
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0);
    return {coordinate_median(r.updates), window_shares(r.updates, (K - 1) / 2, K / 2 + 1)};
  }
};

}  // namespace

void register_median(Registry<AggregatorEntry>& r) {
  r.add("median", {"coordinate-wise median", {}, [](const Params&) {
                     return std::unique_ptr<Aggregator>(std::make_unique<Median>());
                   }});
}

}  // namespace loom::fl
