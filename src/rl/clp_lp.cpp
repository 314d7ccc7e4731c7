#include "clp_lp.h"

namespace loom::rl {

int64_t add_col(LpModel& m, double lower, double upper, double cost) {
  m.objective.resize(static_cast<size_t>(m.cols), 0.0);
  m.col_lower.resize(static_cast<size_t>(m.cols), 0.0);
  m.col_upper.resize(static_cast<size_t>(m.cols), kLpInfinity);
  m.objective.push_back(cost);
  m.col_lower.push_back(lower);
  m.col_upper.push_back(upper);
  return m.cols++;
}

}  // namespace loom::rl
