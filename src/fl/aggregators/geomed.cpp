// Geometric median by Weiszfeld's iteration, sample-count weighted (Pillutla
// et al.'s RFA without smoothing).
#include <algorithm>
#include <cmath>

#include "aggregators.h"

namespace loom::fl {

namespace {

struct GeomedOptions {
  int64_t iters = 100;
};

const ParamSchema<GeomedOptions>& geomed_schema() {
  static const ParamSchema<GeomedOptions> schema = [] {
    ParamSchema<GeomedOptions> s;
    s.add("geomed_iters", &GeomedOptions::iters, "geomed: Weiszfeld iterations at most", {1, 1e6});
    return s;
  }();
  return schema;
}

class GeometricMedian : public Aggregator {
 public:
  explicit GeometricMedian(int64_t iters) : iters_(iters) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    auto n = torch::tensor(std::vector<float>(r.sample_counts.begin(), r.sample_counts.end()));
    auto z = torch::matmul(n / n.sum(), r.updates);
    torch::Tensor w = n;
    const double scale = std::max(1e-12, r.updates.norm().item<double>() / std::sqrt(double(r.updates.size(0))));
    for (int64_t it = 0; it < iters_; ++it) {
      auto dist = (r.updates - z).norm(2, 1).clamp_min(1e-8 * scale);
      w = n / dist;
      auto next = torch::matmul(w / w.sum(), r.updates);
      const double moved = (next - z).norm().item<double>();
      z = next;
      if (moved <= 1e-7 * scale) break;
    }
    return {z, normalized(to_vector(w))};
  }

 private:
  int64_t iters_;
};

}  // namespace

void register_geomed(Registry<AggregatorEntry>& r) {
  r.add("geomed",
        {"geometric median (Weiszfeld), sample-count weighted", geomed_schema().specs(), [](const Params& p) {
           return std::unique_ptr<Aggregator>(std::make_unique<GeometricMedian>(geomed_schema().read(p).iters));
         }});
}

}  // namespace loom::fl
