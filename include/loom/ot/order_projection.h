// The Euclidean projection onto the order cone O = {x >= 0 : x[c1] >= ... >=
// x[cK] >= every other entry} (with no designated cells, the nonnegative
// orthant), the Z-step of the ADMM. Pool-adjacent-violators on the chain,
// whose last block also pools every other entry above its level, each
// block's level minimised over [0, inf) (clipping the unbounded projection
// at 0 gives the same point). Only the entries above max(0, smallest
// designated value) can be pooled, so one O(mn) pass collects them, and the
// pooled level is found among them by Newton's method without sorting,
// instead of the reference's full O(mn log mn) sort.
//
//   loom::ot::ProjectionScratch scratch;             // reused across calls
//   loom::ot::project_order(&w, {3, 17}, &scratch);  // w[3] >= w[17] >= the rest >= 0
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loom::ot {

struct ProjectionScratch {
  std::vector<double> chain_values, values;
  double level = -1;  // the last tail level: where the next search starts
};

void project_order(std::vector<double>* w, const std::vector<int64_t>& chain, ProjectionScratch* scratch);

// The projection's levels alone, for callers that fuse the write into their
// own pass: `chain_values` (the designated entries, in chain order) become
// their projected values, and the return value is the tail level t; every
// other entry projects to max(0, min(w_e, t)). `others_above[0, others)`
// lists (in any order) the other entries greater than
// order_projection_floor(chain_values). The search starts at *warm_level and
// leaves the new level there.
double order_projection_floor(const std::vector<double>& chain_values);
double order_projection_levels(std::vector<double>* chain_values, const double* others_above, size_t others,
                               double* warm_level);

}  // namespace loom::ot
