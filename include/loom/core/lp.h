// Linear and convex quadratic programs on COIN-OR Clp, built once and solved
// many times. A model is loaded once; between solves the objective, the
// bounds and the quadratic term may change and rows (cuts) may be added, and
// each solve starts from the previous basis (hot start). The basis can also
// be saved and restored, so one solver can serve many scenario subproblems
// that share their constraint matrix, each resumed from its own basis.
//
//   minimise    c'x + 1/2 x'Qx
//   subject to  row_lower <= A x <= row_upper,  col_lower <= x <= col_upper
//
//   loom::LpModel model;
//   model.cols = 2;
//   model.objective = {-1, -1};
//   model.add_row({{0, 1.0}, {1, 2.0}}, -loom::kLpInfinity, 4);  // x + 2y <= 4
//   model.add_row({{0, 3.0}, {1, 1.0}}, -loom::kLpInfinity, 6);  // 3x + y <= 6
//   loom::LpSolver solver(model);
//   loom::LpResult r = solver.solve();  // r.status, r.objective, r.primal, r.duals, r.reduced_costs
//   solver.set_objective(0, -2);        // re-solved from the last basis
//   r = solver.solve();
//
// QPs run Clp's barrier with crossover (the reduced-gradient primal alone can
// stall on degenerate proximal QPs), which ends about 1e-6 short in x at
// worst (the tests measure it against closed forms); LPs are exact to Clp's
// tolerances (LpOptions). Duals follow Clp's sign convention:
// reduced_costs = c + Qx - A'duals. An
// infeasible or unbounded problem is a status, never an exception; bad input
// (sizes, NaN, indices out of range, repeated entries) is a loom::Error that
// names the field. No COIN-OR header leaks out of this one.
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace loom {

inline constexpr double kLpInfinity = std::numeric_limits<double>::infinity();

struct LpEntry {
  int64_t row = 0, col = 0;
  double value = 0;
};

struct LpModel {
  int64_t rows = 0, cols = 0;
  std::vector<LpEntry> matrix;               // A's nonzeros, any order; a (row, col) pair at most once
  std::vector<double> objective;             // c; empty means zeros
  std::vector<double> col_lower, col_upper;  // empty means 0 and +infinity
  std::vector<double> row_lower, row_upper;  // one per row; +-kLpInfinity for a free side
  // Q's nonzeros on or below the diagonal (row >= col), each symmetric pair
  // once; Q must be positive semidefinite. Empty: a linear program.
  std::vector<LpEntry> quadratic;

  // Appends a row lower <= sum value * x[col] <= upper; returns its index.
  int64_t add_row(const std::vector<std::pair<int64_t, double>>& coefficients, double lower, double upper);
};

enum class LpStatus { Optimal, Infeasible, Unbounded, IterationLimit, Failed };
const char* lp_status_name(LpStatus status);  // "optimal", "infeasible", ...

enum class LpAlgorithm {
  // The dual simplex on a fresh model and after bound or row changes (the old
  // basis stays dual feasible), the primal simplex after objective-only
  // changes (it stays primal feasible), and the barrier whenever there is a
  // quadratic term.
  Automatic,
  Dual,     // on a QP: the barrier
  Primal,   // on a QP: Clp's reduced-gradient primal from the current basis
  Barrier,  // Clp's barrier (interior point), then crossover to a basis; no hot start
};

struct LpOptions {
  LpAlgorithm algorithm = LpAlgorithm::Automatic;
  int64_t max_iterations = 2147483647;  // past it: LpStatus::IterationLimit
  // Clp's absolute feasibility tolerances on the primal (rows, bounds) and
  // dual (reduced costs) side; 0 keeps Clp's defaults (1e-7 both).
  double primal_tolerance = 0, dual_tolerance = 0;
};

struct LpResult {
  LpStatus status = LpStatus::Failed;
  double objective = 0;               // c'x + 1/2 x'Qx
  std::vector<double> primal;         // x
  std::vector<double> row_activity;   // A x
  std::vector<double> duals;          // one per row
  std::vector<double> reduced_costs;  // one per column: c + Qx - A'duals
  int64_t iterations = 0;             // simplex iterations of this solve
  bool optimal() const { return status == LpStatus::Optimal; }
};

// A simplex basis: Clp's status code per column and per row.
struct LpBasis {
  std::vector<uint8_t> col_status, row_status;
};

class LpSolver {
 public:
  explicit LpSolver(const LpModel& model);
  ~LpSolver();
  LpSolver(LpSolver&&) noexcept;
  LpSolver& operator=(LpSolver&&) noexcept;

  int64_t rows() const;
  int64_t cols() const;

  // Changes for the next solve (which starts from the current basis).
  void set_objective(int64_t col, double value);
  void set_objective(const std::vector<double>& objective);
  void set_col_bounds(int64_t col, double lower, double upper);
  void set_col_bounds(const std::vector<double>& lower, const std::vector<double>& upper);
  void set_row_bounds(int64_t row, double lower, double upper);
  void set_row_bounds(const std::vector<double>& lower, const std::vector<double>& upper);
  // Replaces Q (entries as in LpModel::quadratic); empty makes it an LP again.
  void set_quadratic(const std::vector<LpEntry>& entries);
  void set_quadratic_diagonal(const std::vector<double>& diagonal);  // Q = diag(diagonal)
  // Adds a row (a cut); its slack enters the basis. Returns its index.
  int64_t add_row(const std::vector<std::pair<int64_t, double>>& coefficients, double lower, double upper);

  LpResult solve(const LpOptions& options = {});

  // The basis after the last solve, and starting the next solve from another.
  LpBasis basis() const;
  void set_basis(const LpBasis& basis);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loom
