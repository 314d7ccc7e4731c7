#include "clp_lp.h"

#include <algorithm>
#include <cmath>
#include <coin/ClpQuadraticObjective.hpp>
#include <coin/ClpSimplex.hpp>
#include <coin/CoinPackedMatrix.hpp>

#include "loom/core/error.h"

namespace loom::rl {
namespace {

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

void check_size(const std::vector<double>& v, int64_t n, const char* field, bool may_be_empty) {
  if ((may_be_empty && v.empty()) || static_cast<int64_t>(v.size()) == n) return;
  throw Error(std::string("lp: ") + field + " has " + std::to_string(v.size()) + " entries, expected " +
              std::to_string(n));
}

void check_finite(const std::vector<double>& v, const char* field) {
  for (size_t j = 0; j < v.size(); ++j)
    if (!std::isfinite(v[j])) throw Error(std::string("lp: ") + field + "[" + std::to_string(j) + "] is not finite");
}

}  // namespace

int64_t add_col(LpModel& m, double lower, double upper, double cost) {
  m.objective.resize(static_cast<size_t>(m.cols), 0.0);
  m.col_lower.resize(static_cast<size_t>(m.cols), 0.0);
  m.col_upper.resize(static_cast<size_t>(m.cols), kLpInfinity);
  m.objective.push_back(cost);
  m.col_lower.push_back(lower);
  m.col_upper.push_back(upper);
  return m.cols++;
}

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
  bool quadratic = false;
  std::vector<double> diagonal;
};

LpSolver::LpSolver(const LpModel& m) : impl_(std::make_unique<Impl>()) {
  if (m.rows < 0 || m.cols < 1) throw Error("lp: a model needs at least one column and no negative row count");
  check_size(m.objective, m.cols, "objective", true);
  check_size(m.col_lower, m.cols, "col_lower", true);
  check_size(m.col_upper, m.cols, "col_upper", true);
  check_size(m.row_lower, m.rows, "row_lower", false);
  check_size(m.row_upper, m.rows, "row_upper", false);
  check_finite(m.objective, "objective");
  const auto n = static_cast<size_t>(m.cols), r = static_cast<size_t>(m.rows);
  std::vector<double> col_lo(n), col_hi(n), row_lo(r), row_hi(r), objective(n, 0.0);
  for (size_t j = 0; j < n; ++j) {
    const double lo = m.col_lower.empty() ? 0.0 : m.col_lower[j];
    const double hi = m.col_upper.empty() ? kLpInfinity : m.col_upper[j];
    check_bounds("column", static_cast<int64_t>(j), lo, hi);
    col_lo[j] = to_clp(lo), col_hi[j] = to_clp(hi);
    if (!m.objective.empty()) objective[j] = m.objective[j];
  }
  for (size_t i = 0; i < r; ++i) {
    check_bounds("row", static_cast<int64_t>(i), m.row_lower[i], m.row_upper[i]);
    row_lo[i] = to_clp(m.row_lower[i]), row_hi[i] = to_clp(m.row_upper[i]);
  }
  std::vector<std::pair<int64_t, int64_t>> seen;
  seen.reserve(m.matrix.size());
  std::vector<int> row_index, col_index;
  std::vector<double> value;
  for (size_t k = 0; k < m.matrix.size(); ++k) {
    const LpEntry& e = m.matrix[k];
    if (e.row < 0 || e.row >= m.rows || e.col < 0 || e.col >= m.cols || !std::isfinite(e.value))
      throw Error("lp: matrix entry " + std::to_string(k) + " (row " + std::to_string(e.row) + ", col " +
                  std::to_string(e.col) + ") is outside the matrix or not finite");
    seen.emplace_back(e.row, e.col);
    row_index.push_back(static_cast<int>(e.row));
    col_index.push_back(static_cast<int>(e.col));
    value.push_back(e.value);
  }
  std::sort(seen.begin(), seen.end());
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end())
    throw Error("lp: the matrix names one (row, col) pair twice");
  CoinPackedMatrix matrix(true, row_index.data(), col_index.data(), value.data(),
                          static_cast<CoinBigIndex>(value.size()));
  matrix.setDimensions(static_cast<int>(m.rows), static_cast<int>(m.cols));
  impl_->model.setLogLevel(0);
  impl_->model.loadProblem(matrix, col_lo.data(), col_hi.data(), objective.data(), row_lo.data(), row_hi.data());
  impl_->diagonal.assign(n, 0.0);
}

LpSolver::~LpSolver() = default;
LpSolver::LpSolver(LpSolver&&) noexcept = default;
LpSolver& LpSolver::operator=(LpSolver&&) noexcept = default;

int64_t LpSolver::rows() const { return impl_->model.numberRows(); }
int64_t LpSolver::cols() const { return impl_->model.numberColumns(); }

void LpSolver::set_objective(const std::vector<double>& objective) {
  check_size(objective, cols(), "objective", false);
  check_finite(objective, "objective");
  for (size_t j = 0; j < objective.size(); ++j) impl_->model.setObjectiveCoefficient(static_cast<int>(j), objective[j]);
}

void LpSolver::set_col_bounds(int64_t col, double lower, double upper) {
  if (col < 0 || col >= cols()) throw Error("lp: column " + std::to_string(col) + " is out of range");
  check_bounds("column", col, lower, upper);
  impl_->model.setColumnBounds(static_cast<int>(col), to_clp(lower), to_clp(upper));
}

void LpSolver::set_row_bounds(int64_t row, double lower, double upper) {
  if (row < 0 || row >= rows()) throw Error("lp: row " + std::to_string(row) + " is out of range");
  check_bounds("row", row, lower, upper);
  impl_->model.setRowBounds(static_cast<int>(row), to_clp(lower), to_clp(upper));
}

void LpSolver::set_quadratic_diagonal(const std::vector<double>& diagonal) {
  check_size(diagonal, cols(), "quadratic diagonal", false);
  check_finite(diagonal, "quadratic diagonal");
  bool any = false;
  for (double d : diagonal) {
    if (d < 0) throw Error("lp: a negative quadratic diagonal entry is not convex");
    any = any || d != 0;
  }
  impl_->diagonal = diagonal;
  if (!any) {
    if (auto* q = dynamic_cast<ClpQuadraticObjective*>(impl_->model.objectiveAsObject())) q->deleteQuadraticObjective();
    impl_->quadratic = false;
    return;
  }
  const int n = static_cast<int>(diagonal.size());
  std::vector<CoinBigIndex> start(static_cast<size_t>(n) + 1, 0);
  std::vector<int> index;
  std::vector<double> value;
  for (int j = 0; j < n; ++j) {
    if (diagonal[static_cast<size_t>(j)] != 0) {
      index.push_back(j);
      value.push_back(diagonal[static_cast<size_t>(j)]);
    }
    start[static_cast<size_t>(j) + 1] = static_cast<CoinBigIndex>(index.size());
  }
  // ClpModel loads a Q only over a linear objective; once it is quadratic,
  // the quadratic objective object takes the new Q itself.
  if (auto* q = dynamic_cast<ClpQuadraticObjective*>(impl_->model.objectiveAsObject()))
    q->loadQuadraticObjective(n, start.data(), index.data(), value.data());
  else
    impl_->model.loadQuadraticObjective(n, start.data(), index.data(), value.data());
  impl_->quadratic = true;
}

LpResult LpSolver::solve() {
  ClpSimplex& model = impl_->model;
  // Clp's dual simplex ignores a quadratic term; its primal handles it (a
  // reduced-gradient method). A QP leaves superbasic columns, which the dual
  // simplex does not expect when the next solve is an LP again.
  if (impl_->quadratic) {
    model.primal();
  } else {
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
  const double* x = model.primalColumnSolution();
  const double* y = model.dualRowSolution();
  r.primal.assign(x, x + n);
  r.duals.assign(y, y + m);
  const double* c = model.getObjCoefficients();
  for (size_t j = 0; j < n; ++j) r.objective += c[j] * x[j] + 0.5 * impl_->diagonal[j] * x[j] * x[j];
  return r;
}

}  // namespace loom::rl
