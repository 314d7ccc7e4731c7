#include "loom/core/lp.h"

#include <algorithm>
#include <cmath>
#include <coin/ClpQuadraticObjective.hpp>
#include <coin/ClpSimplex.hpp>
#include <coin/CoinPackedMatrix.hpp>

#include "loom/core/error.h"

namespace loom {
namespace {

std::string entry_name(const char* field, size_t k, const LpEntry& e) {
  return std::string("lp: ") + field + " entry " + std::to_string(k) + " (row " + std::to_string(e.row) + ", col " +
         std::to_string(e.col) + ")";
}

// Clp's infinity is COIN_DBL_MAX; ours is IEEE infinity.
double to_clp(double bound) {
  if (bound == kLpInfinity) return COIN_DBL_MAX;
  if (bound == -kLpInfinity) return -COIN_DBL_MAX;
  return bound;
}

void check_bounds(const char* what, int64_t index, double lower, double upper) {
  if (std::isnan(lower) || std::isnan(upper) || lower == kLpInfinity || upper == -kLpInfinity)
    throw Error(std::string("lp: ") + what + " " + std::to_string(index) + " has bounds [" + std::to_string(lower) +
                ", " + std::to_string(upper) + "]: NaN or an infinite bound on the wrong side");
}

void check_finite(const char* what, int64_t index, double value) {
  if (!std::isfinite(value))
    throw Error(std::string("lp: ") + what + "[" + std::to_string(index) + "] is NaN or infinite");
}

// Entries in range, finite, and no (row, col) twice: one counting sort by
// row, then a stamp per column, O(entries + rows + cols).
void check_entries(const char* field, const std::vector<LpEntry>& entries, int64_t rows, int64_t cols,
                   bool lower_triangle) {
  for (size_t k = 0; k < entries.size(); ++k) {
    const LpEntry& e = entries[k];
    if (e.row < 0 || e.row >= rows || e.col < 0 || e.col >= cols)
      throw Error(entry_name(field, k, e) + " is outside the " + std::to_string(rows) + " x " + std::to_string(cols) +
                  " matrix");
    if (!std::isfinite(e.value)) throw Error(entry_name(field, k, e) + " is NaN or infinite");
    if (lower_triangle && e.row < e.col)
      throw Error(entry_name(field, k, e) + " lies above the diagonal: give each symmetric pair once, row >= col");
  }
  std::vector<int64_t> start(static_cast<size_t>(rows) + 1, 0), by_row(entries.size());
  for (const LpEntry& e : entries) ++start[static_cast<size_t>(e.row) + 1];
  for (int64_t r = 0; r < rows; ++r) start[static_cast<size_t>(r) + 1] += start[static_cast<size_t>(r)];
  std::vector<int64_t> next(start.begin(), start.end() - 1);
  for (size_t k = 0; k < entries.size(); ++k)
    by_row[static_cast<size_t>(next[static_cast<size_t>(entries[k].row)]++)] = static_cast<int64_t>(k);
  std::vector<int64_t> stamp(static_cast<size_t>(cols), -1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t p = start[static_cast<size_t>(r)]; p < start[static_cast<size_t>(r) + 1]; ++p) {
      const LpEntry& e = entries[static_cast<size_t>(by_row[static_cast<size_t>(p)])];
      if (stamp[static_cast<size_t>(e.col)] == r)
        throw Error(entry_name(field, static_cast<size_t>(by_row[static_cast<size_t>(p)]), e) +
                    " repeats an earlier entry of the same row and column");
      stamp[static_cast<size_t>(e.col)] = r;
    }
}

}  // namespace

int64_t LpModel::add_row(const std::vector<std::pair<int64_t, double>>& coefficients, double lower, double upper) {
  for (const auto& [col, value] : coefficients) matrix.push_back({rows, col, value});
  row_lower.push_back(lower);
  row_upper.push_back(upper);
  return rows++;
}

const char* lp_status_name(LpStatus status) {
  switch (status) {
    case LpStatus::Optimal: return "optimal";
    case LpStatus::Infeasible: return "infeasible";
    case LpStatus::Unbounded: return "unbounded";
    case LpStatus::IterationLimit: return "iteration_limit";
    case LpStatus::Failed: return "failed";
  }
  return "?";
}

struct LpSolver::Impl {
  ClpSimplex model;
  bool solved = false;          // a basis exists
  bool objective_only = false;  // since the last solve, only the linear objective changed
  bool quadratic = false;
  std::vector<LpEntry> q;  // the quadratic term as given (row >= col)
  double default_primal_tolerance = 0, default_dual_tolerance = 0;

  void changed_other() { objective_only = false; }
};

LpSolver::LpSolver(const LpModel& m) : impl_(std::make_unique<Impl>()) {
  if (m.rows < 0 || m.cols < 1) throw Error("lp: a model needs at least one column and no negative row count");
  auto sized = [](const std::vector<double>& v, int64_t n, const char* field, bool may_be_empty) {
    if ((may_be_empty && v.empty()) || static_cast<int64_t>(v.size()) == n) return;
    throw Error(std::string("lp: ") + field + " has " + std::to_string(v.size()) + " entries, expected " +
                std::to_string(n));
  };
  sized(m.objective, m.cols, "objective", true);
  sized(m.col_lower, m.cols, "col_lower", true);
  sized(m.col_upper, m.cols, "col_upper", true);
  sized(m.row_lower, m.rows, "row_lower", false);
  sized(m.row_upper, m.rows, "row_upper", false);
  for (size_t j = 0; j < m.objective.size(); ++j) check_finite("objective", static_cast<int64_t>(j), m.objective[j]);
  std::vector<double> col_lo(static_cast<size_t>(m.cols), 0.0), col_hi(static_cast<size_t>(m.cols), COIN_DBL_MAX),
      row_lo(static_cast<size_t>(m.rows)), row_hi(static_cast<size_t>(m.rows));
  for (int64_t j = 0; j < m.cols; ++j) {
    const size_t k = static_cast<size_t>(j);
    const double lo = m.col_lower.empty() ? 0.0 : m.col_lower[k],
                 hi = m.col_upper.empty() ? kLpInfinity : m.col_upper[k];
    check_bounds("column", j, lo, hi);
    col_lo[k] = to_clp(lo), col_hi[k] = to_clp(hi);
  }
  for (int64_t r = 0; r < m.rows; ++r) {
    const size_t k = static_cast<size_t>(r);
    check_bounds("row", r, m.row_lower[k], m.row_upper[k]);
    row_lo[k] = to_clp(m.row_lower[k]), row_hi[k] = to_clp(m.row_upper[k]);
  }
  check_entries("matrix", m.matrix, m.rows, m.cols, false);
  std::vector<int> row_index(m.matrix.size()), col_index(m.matrix.size());
  std::vector<double> value(m.matrix.size());
  for (size_t k = 0; k < m.matrix.size(); ++k) {
    row_index[k] = static_cast<int>(m.matrix[k].row);
    col_index[k] = static_cast<int>(m.matrix[k].col);
    value[k] = m.matrix[k].value;
  }
  CoinPackedMatrix matrix(true, row_index.data(), col_index.data(), value.data(),
                          static_cast<CoinBigIndex>(value.size()));
  // A matrix whose last rows or columns are empty is shorter than the model.
  matrix.setDimensions(static_cast<int>(m.rows), static_cast<int>(m.cols));
  std::vector<double> objective = m.objective;
  objective.resize(static_cast<size_t>(m.cols), 0.0);
  impl_->model.setLogLevel(0);
  impl_->default_primal_tolerance = impl_->model.primalTolerance();
  impl_->default_dual_tolerance = impl_->model.dualTolerance();
  impl_->model.loadProblem(matrix, col_lo.data(), col_hi.data(), objective.data(), row_lo.data(), row_hi.data());
  if (!m.quadratic.empty()) set_quadratic(m.quadratic);
}

LpSolver::~LpSolver() = default;
LpSolver::LpSolver(LpSolver&&) noexcept = default;
LpSolver& LpSolver::operator=(LpSolver&&) noexcept = default;

int64_t LpSolver::rows() const { return impl_->model.numberRows(); }
int64_t LpSolver::cols() const { return impl_->model.numberColumns(); }

void LpSolver::set_objective(int64_t col, double value) {
  if (col < 0 || col >= cols()) throw Error("lp: objective column " + std::to_string(col) + " is out of range");
  check_finite("objective", col, value);
  impl_->model.setObjectiveCoefficient(static_cast<int>(col), value);
}

void LpSolver::set_objective(const std::vector<double>& objective) {
  if (static_cast<int64_t>(objective.size()) != cols())
    throw Error("lp: objective has " + std::to_string(objective.size()) + " entries, expected " +
                std::to_string(cols()));
  for (size_t j = 0; j < objective.size(); ++j) check_finite("objective", static_cast<int64_t>(j), objective[j]);
  for (size_t j = 0; j < objective.size(); ++j) impl_->model.setObjectiveCoefficient(static_cast<int>(j), objective[j]);
}

void LpSolver::set_col_bounds(int64_t col, double lower, double upper) {
  if (col < 0 || col >= cols()) throw Error("lp: column " + std::to_string(col) + " is out of range");
  check_bounds("column", col, lower, upper);
  impl_->model.setColumnBounds(static_cast<int>(col), to_clp(lower), to_clp(upper));
  impl_->changed_other();
}

void LpSolver::set_col_bounds(const std::vector<double>& lower, const std::vector<double>& upper) {
  if (static_cast<int64_t>(lower.size()) != cols() || static_cast<int64_t>(upper.size()) != cols())
    throw Error("lp: column bounds need " + std::to_string(cols()) + " entries each");
  for (int64_t j = 0; j < cols(); ++j) set_col_bounds(j, lower[static_cast<size_t>(j)], upper[static_cast<size_t>(j)]);
}

void LpSolver::set_row_bounds(int64_t row, double lower, double upper) {
  if (row < 0 || row >= rows()) throw Error("lp: row " + std::to_string(row) + " is out of range");
  check_bounds("row", row, lower, upper);
  impl_->model.setRowBounds(static_cast<int>(row), to_clp(lower), to_clp(upper));
  impl_->changed_other();
}

void LpSolver::set_row_bounds(const std::vector<double>& lower, const std::vector<double>& upper) {
  if (static_cast<int64_t>(lower.size()) != rows() || static_cast<int64_t>(upper.size()) != rows())
    throw Error("lp: row bounds need " + std::to_string(rows()) + " entries each");
  for (int64_t r = 0; r < rows(); ++r) set_row_bounds(r, lower[static_cast<size_t>(r)], upper[static_cast<size_t>(r)]);
}

void LpSolver::set_quadratic(const std::vector<LpEntry>& entries) {
  const int64_t n = cols();
  check_entries("quadratic", entries, n, n, true);
  impl_->changed_other();
  if (entries.empty()) {
    if (impl_->quadratic) impl_->model.deleteQuadraticObjective();
    impl_->quadratic = false;
    impl_->q.clear();
    return;
  }
  // Clp stores Q by columns and counts an off-diagonal entry for both
  // triangles, which is what "each symmetric pair once" means.
  std::vector<CoinBigIndex> start(static_cast<size_t>(n) + 1, 0);
  for (const LpEntry& e : entries) ++start[static_cast<size_t>(e.col) + 1];
  for (int64_t j = 0; j < n; ++j) start[static_cast<size_t>(j) + 1] += start[static_cast<size_t>(j)];
  std::vector<CoinBigIndex> next(start.begin(), start.end() - 1);
  std::vector<int> index(entries.size());
  std::vector<double> value(entries.size());
  for (const LpEntry& e : entries) {
    const auto p = static_cast<size_t>(next[static_cast<size_t>(e.col)]++);
    index[p] = static_cast<int>(e.row);
    value[p] = e.value;
  }
  // ClpModel loads a Q only over a linear objective (it asserts otherwise);
  // once the objective is quadratic, that objective object takes the new Q.
  if (auto* q = dynamic_cast<ClpQuadraticObjective*>(impl_->model.objectiveAsObject()))
    q->loadQuadraticObjective(static_cast<int>(n), start.data(), index.data(), value.data());
  else
    impl_->model.loadQuadraticObjective(static_cast<int>(n), start.data(), index.data(), value.data());
  impl_->quadratic = true;
  impl_->q = entries;
}

void LpSolver::set_quadratic_diagonal(const std::vector<double>& diagonal) {
  if (static_cast<int64_t>(diagonal.size()) != cols())
    throw Error("lp: the quadratic diagonal has " + std::to_string(diagonal.size()) + " entries, expected " +
                std::to_string(cols()));
  std::vector<LpEntry> entries;
  for (size_t j = 0; j < diagonal.size(); ++j)
    if (diagonal[j] != 0) entries.push_back({static_cast<int64_t>(j), static_cast<int64_t>(j), diagonal[j]});
  set_quadratic(entries);
}

int64_t LpSolver::add_row(const std::vector<std::pair<int64_t, double>>& coefficients, double lower, double upper) {
  const int64_t row = rows();
  check_bounds("row", row, lower, upper);
  std::vector<int> columns;
  std::vector<double> values;
  std::vector<int64_t> seen;
  for (const auto& [col, value] : coefficients) {
    if (col < 0 || col >= cols())
      throw Error("lp: new row " + std::to_string(row) + " names column " + std::to_string(col) + ", out of range");
    check_finite("new row coefficient", col, value);
    if (std::find(seen.begin(), seen.end(), col) != seen.end())
      throw Error("lp: new row " + std::to_string(row) + " names column " + std::to_string(col) + " twice");
    seen.push_back(col);
    columns.push_back(static_cast<int>(col));
    values.push_back(value);
  }
  impl_->model.addRow(static_cast<int>(columns.size()), columns.data(), values.data(), to_clp(lower), to_clp(upper));
  impl_->changed_other();
  return row;
}

LpResult LpSolver::solve(const LpOptions& options) {
  ClpSimplex& model = impl_->model;
  model.setMaximumIterations(static_cast<int>(std::min<int64_t>(options.max_iterations, 2147483647)));
  model.setPrimalTolerance(options.primal_tolerance > 0 ? options.primal_tolerance : impl_->default_primal_tolerance);
  model.setDualTolerance(options.dual_tolerance > 0 ? options.dual_tolerance : impl_->default_dual_tolerance);
  LpAlgorithm algorithm = options.algorithm;
  if (algorithm == LpAlgorithm::Automatic)
    algorithm = impl_->quadratic                         ? LpAlgorithm::Barrier
                : impl_->solved && impl_->objective_only ? LpAlgorithm::Primal
                                                         : LpAlgorithm::Dual;
  // Clp's dual simplex ignores a quadratic term.
  if (impl_->quadratic && algorithm == LpAlgorithm::Dual) algorithm = LpAlgorithm::Barrier;
  if (algorithm == LpAlgorithm::Barrier) {
    // Clp's barrier, then its crossover to a basis. On QPs its reduced-gradient
    // primal alone can crawl for minutes inside one iteration (progressive
    // hedging's proximal subproblems, docs/np.md); started from the barrier's
    // point it finishes in a few steps.
    model.barrier(true);
  } else if (algorithm == LpAlgorithm::Primal) {
    model.primal();
  } else {
    // A QP leaves superbasic columns (between their bounds), which the dual
    // simplex does not expect: put them at a bound first.
    if (model.statusArray())
      for (int j = 0; j < model.numberColumns(); ++j)
        if (model.getColumnStatus(j) == ClpSimplex::superBasic) {
          const double lo = model.columnLower()[j], hi = model.columnUpper()[j];
          model.setColumnStatus(j, lo > -COIN_DBL_MAX  ? ClpSimplex::atLowerBound
                                   : hi < COIN_DBL_MAX ? ClpSimplex::atUpperBound
                                                       : ClpSimplex::isFree);
        }
    model.dual();
  }
  impl_->solved = true;
  impl_->objective_only = true;  // until something else changes
  LpResult r;
  switch (model.status()) {
    case 0: r.status = LpStatus::Optimal; break;
    case 1: r.status = LpStatus::Infeasible; break;
    case 2: r.status = LpStatus::Unbounded; break;
    case 3: r.status = LpStatus::IterationLimit; break;
    default: r.status = LpStatus::Failed; break;
  }
  r.iterations = model.numberIterations();
  const size_t n = static_cast<size_t>(model.numberColumns()), m = static_cast<size_t>(model.numberRows());
  const double *x = model.primalColumnSolution(), *ax = model.primalRowSolution(), *y = model.dualRowSolution(),
               *d = model.dualColumnSolution();
  r.primal.assign(x, x + n);
  r.row_activity.assign(ax, ax + m);
  r.duals.assign(y, y + m);
  r.reduced_costs.assign(d, d + n);
  // The objective from the solution itself: Clp's cached value can lag after
  // the quadratic term is dropped.
  const double* c = model.getObjCoefficients();
  r.objective = 0;
  for (size_t j = 0; j < n; ++j) r.objective += c[j] * x[j];
  for (const LpEntry& e : impl_->q) r.objective += (e.row == e.col ? 0.5 : 1.0) * e.value * x[e.row] * x[e.col];
  return r;
}

LpBasis LpSolver::basis() const {
  ClpSimplex& model = impl_->model;
  if (!model.statusArray()) model.createStatus();  // before any solve: the slack basis
  LpBasis b;
  const int n = model.numberColumns(), m = model.numberRows();
  for (int j = 0; j < n; ++j) b.col_status.push_back(static_cast<uint8_t>(model.getColumnStatus(j)));
  for (int r = 0; r < m; ++r) b.row_status.push_back(static_cast<uint8_t>(model.getRowStatus(r)));
  return b;
}

void LpSolver::set_basis(const LpBasis& b) {
  ClpSimplex& model = impl_->model;
  if (static_cast<int64_t>(b.col_status.size()) != cols() || static_cast<int64_t>(b.row_status.size()) != rows())
    throw Error("lp: a basis of " + std::to_string(b.col_status.size()) + " columns and " +
                std::to_string(b.row_status.size()) + " rows does not fit a model of " + std::to_string(cols()) +
                " columns and " + std::to_string(rows()) + " rows");
  if (!model.statusArray()) model.createStatus();
  for (size_t j = 0; j < b.col_status.size(); ++j) {
    if (b.col_status[j] > 5) throw Error("lp: basis column status " + std::to_string(j) + " is not a Clp status");
    model.setColumnStatus(static_cast<int>(j), static_cast<ClpSimplex::Status>(b.col_status[j]));
  }
  for (size_t r = 0; r < b.row_status.size(); ++r) {
    if (b.row_status[r] > 5) throw Error("lp: basis row status " + std::to_string(r) + " is not a Clp status");
    model.setRowStatus(static_cast<int>(r), static_cast<ClpSimplex::Status>(b.row_status[r]));
  }
  impl_->solved = true;
  impl_->changed_other();
}

}  // namespace loom
