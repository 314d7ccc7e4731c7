// Closing a round, apart from the networking: screen the updates, aggregate
// what is left, and apply the result only if it is finite.
//
// Screening is a server's first defence, before any aggregator sees a round: updates
// whose L2 norm is above an absolute bound, or above a multiple of the
// round's median norm, are set aside. It stops what no robust statistic of a
// few parties can (one party sending FLT_MAX-scale but finite values, which
// overflow a mean or a distance), and costs honest parties nothing while
// their updates are of one size. Norms are computed in double precision.
//
// A failed aggregation (an aggregator that throws, a non-finite result, no
// update left) fails only the round: the model stays as it was.
//
//   loom::fl::RoundOutcome r = loom::fl::apply_round(global, round, *aggregator, {1000, 10});
//   if (!r.failure.empty()) log(r.failure);
//   global = r.global;
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "loom/fl/aggregate.h"

namespace loom::fl {

struct NormBound {
  double max_norm = 1000;  // absolute bound on ‖u_k‖; 0 = none
  double max_ratio = 10;   // bound on ‖u_k‖ / median_j ‖u_j‖; 0 = none
};

struct Screened {
  std::vector<size_t> kept;                              // indices, in order
  std::vector<std::pair<size_t, std::string>> rejected;  // index, reason
  std::vector<double> norms;                             // every update's norm
};
Screened screen_by_norm(const std::vector<at::Tensor>& updates, const NormBound& bound);

struct RoundOutcome {
  at::Tensor global;            // the new global model; the old one when the round failed
  Screened screened;            // indices into the round's parties
  std::vector<double> weights;  // of the kept parties, from the aggregator
  std::string failure;          // empty when the aggregate was applied
};
// `round` holds every submitted update; the aggregator sees the kept ones.
RoundOutcome apply_round(const at::Tensor& global, const RoundUpdates& round, Aggregator& aggregator,
                         const NormBound& bound);

}  // namespace loom::fl
