#include "loom/fl/round.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "loom/core/params.h"

namespace loom::fl {

Screened screen_by_norm(const std::vector<at::Tensor>& updates, const NormBound& bound) {
  Screened out;
  for (const auto& u : updates) {
    // In double, so that FLT_MAX-scale entries give a finite, comparable norm.
    const double n = u.to(torch::kDouble).norm().item<double>();
    out.norms.push_back(std::isfinite(n) ? n : std::numeric_limits<double>::infinity());
  }
  std::vector<double> sorted = out.norms;
  std::sort(sorted.begin(), sorted.end());
  const size_t K = sorted.size();
  const double median = K == 0 ? 0 : K % 2 ? sorted[K / 2] : 0.5 * (sorted[K / 2 - 1] + sorted[K / 2]);
  for (size_t k = 0; k < K; ++k) {
    const double n = out.norms[k];
    if (!std::isfinite(n))
      out.rejected.push_back({k, "update norm is not finite"});
    else if (bound.max_norm > 0 && n > bound.max_norm)
      out.rejected.push_back(
          {k, "update norm " + shortest_decimal(n) + " above max_update_norm " + shortest_decimal(bound.max_norm)});
    else if (bound.max_ratio > 0 && median > 0 && n > bound.max_ratio * median)
      out.rejected.push_back({k, "update norm " + shortest_decimal(n) + " above max_norm_ratio " +
                                     shortest_decimal(bound.max_ratio) + " x the round's median " +
                                     shortest_decimal(median)});
    else
      out.kept.push_back(k);
  }
  return out;
}

RoundOutcome apply_round(const at::Tensor& global, const RoundUpdates& round, Aggregator& aggregator,
                         const NormBound& bound) {
  RoundOutcome out;
  out.global = global;
  const int64_t K = round.updates.defined() ? round.updates.size(0) : 0;
  std::vector<at::Tensor> rows;
  for (int64_t k = 0; k < K; ++k) rows.push_back(round.updates[k]);
  out.screened = screen_by_norm(rows, bound);
  if (out.screened.kept.empty()) {
    out.failure = K == 0 ? "no updates" : "no update passed the norm bound";
    return out;
  }
  RoundUpdates kept;
  std::vector<at::Tensor> kept_rows;
  for (size_t k : out.screened.kept) {
    kept_rows.push_back(rows[k]);
    if (k < round.sample_counts.size()) kept.sample_counts.push_back(round.sample_counts[k]);
    if (k < round.party_ids.size()) kept.party_ids.push_back(round.party_ids[k]);
  }
  kept.updates = torch::stack(kept_rows).contiguous();
  kept.layer_sizes = round.layer_sizes;
  try {
    Aggregate a = aggregator.aggregate(kept);
    at::Tensor next = global + a.update;
    if (!std::isfinite(next.sum(torch::kDouble).item<double>())) {
      out.failure = "the aggregate is not finite";
      return out;
    }
    out.global = next;
    out.weights = a.weights;
  } catch (const std::exception& e) {
    out.failure = std::string("aggregation failed: ") + e.what();
  }
  return out;
}

}  // namespace loom::fl
