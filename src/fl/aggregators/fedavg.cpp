// FedAvg: Σ n_k u_k / Σ n_k (McMahan et al.), at memory speed.
#include <algorithm>
#include <cmath>

#include "aggregators.h"

namespace loom::fl {

namespace {

// The one aggregator that can run at memory speed: each update is read once,
// and finiteness is checked on the (small) result, since any NaN or infinity
// in an input reaches it. Accumulation is blocked so the output stays in cache.
class FedAvg : public Aggregator {
 public:
  Aggregate aggregate(const RoundUpdates& r) override {
    require_shapes(r);
    auto w = normalized(r.sample_counts);
    const int64_t K = r.updates.size(0), d = r.updates.size(1);
    auto out = torch::zeros({d});
    const float* u = r.updates.data_ptr<float>();
    float* o = out.data_ptr<float>();
    constexpr int64_t kBlock = 4096;  // 16 KiB of output per pass
    for (int64_t start = 0; start < d; start += kBlock) {
      const int64_t end = std::min(d, start + kBlock);
      for (int64_t k = 0; k < K; ++k) {
        const float wk = static_cast<float>(w[static_cast<size_t>(k)]);
        const float* row = u + k * d;
        for (int64_t i = start; i < end; ++i) o[i] += wk * row[i];
      }
    }
    if (!std::isfinite(out.sum(torch::kDouble).item<double>())) throw_non_finite(r);
    return {out, w};
  }
};

}  // namespace

void register_fedavg(Registry<AggregatorEntry>& r) {
  r.add("fedavg", {"sample-count weighted mean of the updates", {}, [](const Params&) {
                     return std::unique_ptr<Aggregator>(std::make_unique<FedAvg>());
                   }});
}

}  // namespace loom::fl
