#include "loom/core/lp.h"

#include <algorithm>

#include "loom/core/error.h"
#include "loom/ot/ot.h"
#include "solver_entries.h"

namespace loom::ot {

Result order_constrained_lp(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                            const std::vector<Cell>& order) {
  validate(a, b, cost, order);
  const int64_t m = cost.rows, n = cost.cols, vars = m * n;
  // Rows: m row sums, n column sums, K-1 chain links, mn-K "last >= other".
  LpModel model;
  model.cols = vars;
  model.objective = cost.data;
  auto add = [&](int64_t var, double coef) { model.matrix.push_back({model.rows, var, coef}); };
  auto close_row = [&](double lo, double hi) {
    model.row_lower.push_back(lo);
    model.row_upper.push_back(hi);
    ++model.rows;
  };
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) add(i * n + j, 1.0);
    close_row(a[static_cast<size_t>(i)], a[static_cast<size_t>(i)]);
  }
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < m; ++i) add(i * n + j, 1.0);
    close_row(b[static_cast<size_t>(j)], b[static_cast<size_t>(j)]);
  }
  std::vector<bool> designated(static_cast<size_t>(vars), false);
  for (size_t k = 0; k < order.size(); ++k) {
    int64_t cell = order[k].first * n + order[k].second;
    designated[static_cast<size_t>(cell)] = true;
    if (k + 1 < order.size()) {
      add(cell, 1.0);
      add(order[k + 1].first * n + order[k + 1].second, -1.0);
      close_row(0.0, kLpInfinity);
    }
  }
  if (!order.empty()) {
    int64_t last = order.back().first * n + order.back().second;
    for (int64_t e = 0; e < vars; ++e) {
      if (designated[static_cast<size_t>(e)]) continue;
      add(last, 1.0);
      add(e, -1.0);
      close_row(0.0, kLpInfinity);
    }
  }
  LpResult lp = LpSolver(model).solve();
  if (!lp.optimal()) {
    const std::string status = lp.status == LpStatus::Infeasible ? "infeasible" : "failed";
    throw Error("ot: the LP solver reports the problem " + status);
  }
  Result r;
  r.status = "optimal";
  r.plan = Matrix(m, n);
  for (int64_t k = 0; k < vars; ++k)
    r.plan.data[static_cast<size_t>(k)] = std::max(0.0, lp.primal[static_cast<size_t>(k)]);
  r.cost = transport_cost(cost, r.plan);
  r.iterations = lp.iterations;
  r.marginal_error = marginal_error(a, b, r.plan);
  r.u.assign(lp.duals.begin(), lp.duals.begin() + m);
  r.v.assign(lp.duals.begin() + m, lp.duals.begin() + m + n);
  return r;
}

namespace detail {

Solver lp_solver() {
  return make_solver("the whole problem as one LP (COIN-OR Clp, dual simplex): the exact oracle for any K",
                     [](const Problem& p) { return order_constrained_lp(p.a, p.b, p.cost, p.order); });
}

}  // namespace detail

}  // namespace loom::ot
