// Private: the transport problem as a min-cost flow, solved by loom's own
// network simplex for dense bipartite graphs (network_simplex.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "loom/ot/ot.h"

namespace loom::ot::detail {

struct FlowResult {
  bool feasible = false;
  Matrix plan;
  double cost = 0;
  std::vector<double> u, v;  // duals: u_i + v_j <= C_ij on every usable arc off its upper bound
  int64_t pivots = 0;
  // With `penalized`, an infeasible problem still returns the flow that
  // routes the rest through the artificial root, and what that costs: then
  // cost + penalty is an exact penalty function, convex in the masses and
  // the capacity, and the duals are its subgradients.
  double penalty = 0;
};

// min <C, X> s.t. X 1 = a, X^T 1 = b, 0 <= X <= cap (cap < 0: uncapacitated),
// with the cells `forbidden` (row-major indices i * n + j) held at 0. Costs,
// flows and potentials are doubles (no integer scaling of the masses).
FlowResult transport_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost, double cap,
                          const std::vector<int64_t>& forbidden = {}, bool penalized = false);

}  // namespace loom::ot::detail
