// The rl module's LP/QP solver on COIN-OR Clp: a model loaded once, then
// solved many times while its objective, quadratic diagonal and bounds change,
// each solve starting from the previous basis (hot start).
//
// This is a stand-in for the shared wrapper that is moving into core as
// include/loom/core/lp.h (branch `ot`). The names and semantics here are a
// strict subset of that header's (LpEntry, LpModel, LpStatus, LpResult,
// LpSolver), so that switching is one `using loom::LpModel;` per name once it
// lands on main. Nothing of Clp leaks out of this header.
//
//   minimise    c'x + 1/2 x'Qx      (Q diagonal here)
//   subject to  row_lower <= A x <= row_upper,  col_lower <= x <= col_upper
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace loom::rl {

inline constexpr double kLpInfinity = std::numeric_limits<double>::infinity();

struct LpEntry {
  int64_t row = 0, col = 0;
  double value = 0;
};

struct LpModel {
  int64_t rows = 0, cols = 0;
  std::vector<LpEntry> matrix;               // A's nonzeros; a (row, col) pair at most once
  std::vector<double> objective;             // c; empty means zeros
  std::vector<double> col_lower, col_upper;  // empty means 0 and +infinity
  std::vector<double> row_lower, row_upper;  // one per row; +-kLpInfinity for a free side

  // Appends a row lower <= sum value * x[col] <= upper; returns its index.
  int64_t add_row(const std::vector<std::pair<int64_t, double>>& coefficients, double lower, double upper);
};

// Appends a column with bounds and cost; returns its index (a free function,
// so that LpModel's members stay those of core/lp.h).
int64_t add_col(LpModel& model, double lower, double upper, double cost);

enum class LpStatus { Optimal, Infeasible, Unbounded, IterationLimit, Failed };
const char* lp_status_name(LpStatus status);

struct LpResult {
  LpStatus status = LpStatus::Failed;
  double objective = 0;        // c'x + 1/2 x'Qx
  std::vector<double> primal;  // x
  std::vector<double> duals;   // one per row
  int64_t iterations = 0;
  bool optimal() const { return status == LpStatus::Optimal; }
};

class LpSolver {
 public:
  explicit LpSolver(const LpModel& model);
  ~LpSolver();
  LpSolver(LpSolver&&) noexcept;
  LpSolver& operator=(LpSolver&&) noexcept;

  int64_t rows() const;
  int64_t cols() const;
  void set_objective(const std::vector<double>& objective);
  void set_col_bounds(int64_t col, double lower, double upper);
  void set_row_bounds(int64_t row, double lower, double upper);
  // Q = diag(diagonal); all zeros makes it an LP again.
  void set_quadratic_diagonal(const std::vector<double>& diagonal);
  LpResult solve();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loom::rl
