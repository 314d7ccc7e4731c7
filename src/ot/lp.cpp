#include <coin/ClpSimplex.hpp>
#include <coin/CoinPackedMatrix.hpp>

#include "loom/core/error.h"
#include "loom/ot/ot.h"
#include "solver_entries.h"

namespace loom::ot {

Result order_constrained_lp(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                            const std::vector<Cell>& order) {
  validate(a, b, cost, order);
  const int64_t m = cost.rows, n = cost.cols, vars = m * n;
  // Rows: m row sums, n column sums, K-1 chain links, mn-K "last >= other".
  std::vector<int> row_index, col_index;
  std::vector<double> value, row_lo, row_hi;
  int row = 0;
  auto add = [&](int r, int64_t var, double coef) {
    row_index.push_back(r);
    col_index.push_back(static_cast<int>(var));
    value.push_back(coef);
  };
  for (int64_t i = 0; i < m; ++i, ++row) {
    for (int64_t j = 0; j < n; ++j) add(row, i * n + j, 1.0);
    row_lo.push_back(a[static_cast<size_t>(i)]);
    row_hi.push_back(a[static_cast<size_t>(i)]);
  }
  for (int64_t j = 0; j < n; ++j, ++row) {
    for (int64_t i = 0; i < m; ++i) add(row, i * n + j, 1.0);
    row_lo.push_back(b[static_cast<size_t>(j)]);
    row_hi.push_back(b[static_cast<size_t>(j)]);
  }
  std::vector<bool> designated(static_cast<size_t>(vars), false);
  for (size_t k = 0; k < order.size(); ++k) {
    int64_t cell = order[k].first * n + order[k].second;
    designated[static_cast<size_t>(cell)] = true;
    if (k + 1 < order.size()) {
      add(row, cell, 1.0);
      add(row, order[k + 1].first * n + order[k + 1].second, -1.0);
      row_lo.push_back(0.0);
      row_hi.push_back(COIN_DBL_MAX);
      ++row;
    }
  }
  if (!order.empty()) {
    int64_t last = order.back().first * n + order.back().second;
    for (int64_t e = 0; e < vars; ++e) {
      if (designated[static_cast<size_t>(e)]) continue;
      add(row, last, 1.0);
      add(row, e, -1.0);
      row_lo.push_back(0.0);
      row_hi.push_back(COIN_DBL_MAX);
      ++row;
    }
  }
  CoinPackedMatrix matrix(true, row_index.data(), col_index.data(), value.data(),
                          static_cast<CoinBigIndex>(value.size()));
  std::vector<double> col_lo(static_cast<size_t>(vars), 0.0), col_hi(static_cast<size_t>(vars), COIN_DBL_MAX);
  ClpSimplex model;
  model.setLogLevel(0);
  model.loadProblem(matrix, col_lo.data(), col_hi.data(), cost.data.data(), row_lo.data(), row_hi.data());
  model.dual();
  Result r;
  if (model.status() != 0) {
    r.status = model.status() == 1 ? "infeasible" : "failed";
    throw Error("ot: the LP solver reports the problem " + r.status);
  }
  r.status = "optimal";
  r.plan = Matrix(m, n);
  const double* x = model.primalColumnSolution();
  for (int64_t k = 0; k < vars; ++k) r.plan.data[static_cast<size_t>(k)] = std::max(0.0, x[k]);
  r.cost = transport_cost(cost, r.plan);
  r.iterations = model.numberIterations();
  r.marginal_error = marginal_error(a, b, r.plan);
  const double* duals = model.dualRowSolution();
  for (int64_t i = 0; i < m; ++i) r.u.push_back(duals[i]);
  for (int64_t j = 0; j < n; ++j) r.v.push_back(duals[m + j]);
  return r;
}

namespace detail {

Solver lp_solver() {
  return make_solver("the whole problem as one LP (COIN-OR Clp, dual simplex): the exact oracle for any K",
                     [](const Problem& p) { return order_constrained_lp(p.a, p.b, p.cost, p.order); });
}

}  // namespace detail

}  // namespace loom::ot
