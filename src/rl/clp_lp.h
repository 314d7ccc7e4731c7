// The rl module's LP/QP types: core's Clp wrapper (include/loom/core/lp.h),
// a model loaded once, then solved many times while its objective, quadratic
// diagonal and bounds change, each solve starting from the previous basis
// (hot start), plus add_col for building stochastic programs column by column.
//
//   minimise    c'x + 1/2 x'Qx      (Q diagonal here)
//   subject to  row_lower <= A x <= row_upper,  col_lower <= x <= col_upper
#pragma once
#include <cstdint>

#include "loom/core/lp.h"

namespace loom::rl {

using loom::kLpInfinity;
using loom::lp_status_name;
using loom::LpEntry;
using loom::LpModel;
using loom::LpResult;
using loom::LpSolver;
using loom::LpStatus;

// Appends a column with bounds and cost; returns its index.
int64_t add_col(LpModel& model, double lower, double upper, double cost);

}  // namespace loom::rl
