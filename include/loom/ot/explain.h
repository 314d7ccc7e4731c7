// Explanations by tree search (Lim et al. 2022, §5): starting from the plain
// OT plan, force one "salient" match at a time through an order constraint
// and return the k cheapest alternative plans, each with its forced cells.
//
//   auto alternatives = loom::ot::explain_by_order(a, b, C, {});
//   for (auto& alt : alternatives) alt.order;  // the forced matches, largest first
#pragma once
#include <vector>

#include "loom/ot/ot.h"

namespace loom::ot {

struct ExplainOptions {
  // A cell is a candidate when its normalised mass X_ij / min(a_i, b_j) is at
  // most tau_cell and the largest other normalised entry of its row or of its
  // column is at most tau_line (the "least saturated" rule). The reference's
  // threshold values are not published; 0.5 / 0.9 are loom's choice (docs/ot.md).
  double tau_cell = 0.5;
  double tau_line = 0.9;
  int64_t nodes = 20;  // k1: nodes expanded
  int64_t plans = 5;   // k2: plans returned
  int64_t depth = 1;   // k3: forced cells per plan
  std::string method = "exact";
};

struct Alternative {
  std::vector<Cell> order;  // forced cells, first is the largest
  Result result;
  double lower_bound = 0;
};

// Best-first search: children add one candidate cell (in a row and column not
// yet used); a node whose lower bound is at least the current k2-th best cost
// is pruned. Returns up to `plans` alternatives, cheapest first.
std::vector<Alternative> explain_by_order(const std::vector<double>& a, const std::vector<double>& b,
                                          const Matrix& cost, const ExplainOptions& options = {});

}  // namespace loom::ot
