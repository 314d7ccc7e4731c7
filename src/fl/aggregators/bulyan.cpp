// Bulyan (El Mhamdi, Guerraoui and Rouault, 2018): θ = K − 2f updates are
// chosen one at a time by Krum's score among those left, then each
// coordinate is the mean of the β = θ − 2f chosen values nearest to their
// coordinate-wise median. It needs K ≥ 4f + 3.
#include <algorithm>
#include <limits>

#include "aggregators.h"
#include "loom/core/error.h"

namespace loom::fl {

namespace {

struct BulyanOptions {
  int64_t f = -1;  // assumed bad parties; -1 = ⌊(K-3)/4⌋ (the most Bulyan tolerates)
};

const ParamSchema<BulyanOptions>& bulyan_schema() {
  static const ParamSchema<BulyanOptions> schema = [] {
    ParamSchema<BulyanOptions> s;
    s.add("bulyan_f", &BulyanOptions::f, "bulyan: assumed bad parties (K >= 4f+3); -1 = floor((K-3)/4)", {-1, 1e9});
    return s;
  }();
  return schema;
}

class Bulyan : public Aggregator {
 public:
  explicit Bulyan(BulyanOptions o) : o_(o) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0);
    const int64_t f = o_.f >= 0 ? o_.f : std::max<int64_t>(0, (K - 3) / 4);
    if (K < 4 * f + 3)
      throw Error("bulyan: bulyan_f = " + std::to_string(f) + " needs at least " + std::to_string(4 * f + 3) +
                  " parties, the round has " + std::to_string(K));
    // Squared distances once, in double (Krum's scores on the remaining set).
    auto u = r.updates.to(torch::kDouble);
    auto sq = (u * u).sum(1);
    auto dist = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * torch::matmul(u, u.t())).clamp_min(0);
    auto D = to_vector(dist.flatten());
    std::vector<int64_t> left(static_cast<size_t>(K)), chosen;
    for (int64_t k = 0; k < K; ++k) left[static_cast<size_t>(k)] = k;
    const int64_t theta = K - 2 * f;
    while (static_cast<int64_t>(chosen.size()) < theta) {
      const auto n = static_cast<int64_t>(left.size());
      const int64_t neighbours = std::max<int64_t>(1, std::min(n - 1, n - f - 2));
      double best = std::numeric_limits<double>::infinity();
      size_t best_at = 0;
      for (size_t i = 0; i < left.size(); ++i) {
        std::vector<double> row;
        for (size_t j = 0; j < left.size(); ++j)
          if (j != i) row.push_back(D[static_cast<size_t>(left[i] * K + left[j])]);
        std::partial_sort(row.begin(), row.begin() + neighbours, row.end());
        double score = 0;
        for (int64_t j = 0; j < neighbours && j < static_cast<int64_t>(row.size()); ++j) score += row[j];
        if (score < best) best = score, best_at = i;
      }
      chosen.push_back(left[best_at]);
      left.erase(left.begin() + static_cast<std::ptrdiff_t>(best_at));
    }
    auto index = torch::tensor(chosen, torch::kLong);
    auto picked = r.updates.index_select(0, index);
    const int64_t beta = theta - 2 * f;
    auto med = coordinate_median(picked);
    auto nearest = std::get<1>((picked - med).abs().topk(beta, 0, /*largest=*/false));  // [β, d]
    auto update = picked.gather(0, nearest).mean(0);
    // Weights: each party's share of the values averaged.
    auto owners = index.index_select(0, nearest.flatten());
    return {update, normalized(to_vector(torch::bincount(owners, {}, K)))};
  }

 private:
  BulyanOptions o_;
};

}  // namespace

void register_bulyan(Registry<AggregatorEntry>& r) {
  r.add("bulyan", {"K - 2f updates chosen by Krum, then per coordinate the mean of the K - 4f nearest the median",
                   bulyan_schema().specs(), [](const Params& p) {
                     return std::unique_ptr<Aggregator>(std::make_unique<Bulyan>(bulyan_schema().read(p)));
                   }});
}

}  // namespace loom::fl
