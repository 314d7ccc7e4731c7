// Private: the transport problem as a min-cost flow on LEMON's network simplex.
#pragma once
#include <optional>

#include "loom/ot/ot.h"

namespace loom::ot::detail {

struct FlowResult {
  bool feasible = false;
  Matrix plan;
  double cost = 0;
  std::vector<double> u, v;
};

// min <C, X> s.t. X 1 = a, X^T 1 = b, 0 <= X <= cap (cap < 0: uncapacitated),
// with cell `skip` (if any) forced to 0. Masses are scaled to 2^40 integer
// units so the network simplex runs in exact arithmetic (relative rounding
// ~1e-12); costs stay double.
FlowResult transport_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost, double cap,
                          std::optional<Cell> skip = std::nullopt);

}  // namespace loom::ot::detail
