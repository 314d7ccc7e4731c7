// Krum and Multi-Krum (Blanchard et al., 2017): score = Σ squared distances
// to the K−f−2 nearest updates; Krum takes the best, Multi-Krum averages the
// best m.
#include <algorithm>
#include <limits>

#include "aggregators.h"

namespace loom::fl {

namespace {

struct KrumOptions {
  int64_t f = -1;  // assumed bad parties; -1 = ⌊(K-3)/2⌋ (the most Krum tolerates)
  int64_t m = -1;  // parties averaged by multi_krum; -1 = K - f
};

const ParamSchema<KrumOptions>& krum_schema() {
  static const ParamSchema<KrumOptions> schema = [] {
    ParamSchema<KrumOptions> s;
    s.add("krum_f", &KrumOptions::f, "krum/multi_krum: assumed bad parties; -1 = floor((K-3)/2)", {-1, 1e9});
    s.add("multi_krum_m", &KrumOptions::m, "multi_krum: parties averaged; -1 = K - f", {-1, 1e9});
    return s;
  }();
  return schema;
}

class Krum : public Aggregator {
 public:
  Krum(KrumOptions o, bool multi) : o_(o), multi_(multi) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0);
    const int64_t f = o_.f >= 0 ? o_.f : std::max<int64_t>(0, (K - 3) / 2);
    const int64_t neighbours = std::max<int64_t>(1, K - f - 2);
    if (K < 2) return {r.updates[0], {1.0}};
    auto sq = (r.updates * r.updates).sum(1);
    auto dist = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * torch::matmul(r.updates, r.updates.t())).clamp_min(0);
    dist.fill_diagonal_(std::numeric_limits<float>::infinity());
    auto nearest = std::get<0>(dist.topk(std::min(neighbours, K - 1), 1, /*largest=*/false));
    auto scores = nearest.sum(1);
    const int64_t m = multi_ ? (o_.m > 0 ? std::min(o_.m, K) : K - f) : 1;
    auto chosen = std::get<1>(scores.topk(m, 0, /*largest=*/false));
    std::vector<double> w(static_cast<size_t>(K), 0.0);
    for (int64_t i = 0; i < m; ++i) w[static_cast<size_t>(chosen[i].item<int64_t>())] = 1.0 / static_cast<double>(m);
    return {r.updates.index_select(0, chosen).mean(0), w};
  }

 private:
  KrumOptions o_;
  bool multi_;
};

}  // namespace

void register_krum(Registry<AggregatorEntry>& r) {
  for (bool multi : {false, true})
    r.add(multi ? "multi_krum" : "krum",
          {multi ? "mean of the multi_krum_m updates with the best Krum scores" : "the update with the best Krum score",
           krum_schema().specs(), [multi](const Params& p) {
             return std::unique_ptr<Aggregator>(std::make_unique<Krum>(krum_schema().read(p), multi));
           }});
}

}  // namespace loom::fl
