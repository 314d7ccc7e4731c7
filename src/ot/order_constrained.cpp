// The exact flow-based solver: network simplex inside cutting planes over
// the order cells' values.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "loom/core/error.h"
#include "loom/core/lp.h"
#include "loom/ot/ot.h"
#include "network_flow.h"
#include "solver_entries.h"

namespace loom::ot {

Result order_constrained_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                              const std::vector<Cell>& order) {
  validate(a, b, cost, order);
  if (order.empty()) throw Error("ot: the flow solver needs at least one order cell (use emd without)");
  const int64_t m = cost.rows, n = cost.cols, K = static_cast<int64_t>(order.size());
  const size_t Ks = order.size();
  std::vector<int64_t> cells;
  for (auto [i, j] : order) cells.push_back(i * n + j);
  const double mass = std::accumulate(a.begin(), a.end(), 0.0);
  double cost_scale = 0;
  for (double c : cost.data) cost_scale = std::max(cost_scale, std::abs(c));
  if (cost_scale == 0) cost_scale = 1;

  // f(u) = sum_k C(c_k) u_k + F(u): F is the min-cost flow once the order
  // cells are fixed at u_1 >= ... >= u_K and every other cell is capped at
  // u_K. F is convex and piecewise linear (an LP's value as a function of
  // its right-hand side), and the flow's duals give a subgradient:
  //   df/du_k = C(c_k) - u_(i_k) - v_(j_k), and for the cap u_K also
  //   + sum over the capped arcs of min(0, reduced cost).
  // Where u leaves no feasible flow, the network simplex's big-M artificial
  // arcs make F an exact penalty function, so f stays finite and convex.
  struct Point {
    std::vector<double> u;
    double f = std::numeric_limits<double>::infinity();
    std::vector<double> g;
    detail::FlowResult flow;
  };
  int64_t solves = 0;
  auto evaluate = [&](const std::vector<double>& u) {
    Point p;
    p.u = u;
    auto a2 = a, b2 = b;
    for (size_t k = 0; k < Ks; ++k) {
      double& ai = a2[static_cast<size_t>(order[k].first)];
      double& bj = b2[static_cast<size_t>(order[k].second)];
      ai = std::max(0.0, ai - u[k]);
      bj = std::max(0.0, bj - u[k]);
    }
    // Rounding in the clamps above must not leave the masses unbalanced.
    const double sa = std::accumulate(a2.begin(), a2.end(), 0.0), sb = std::accumulate(b2.begin(), b2.end(), 0.0);
    if (sa > 0 && sb > 0)
      for (double& x : b2) x *= sa / sb;
    ++solves;
    p.flow = detail::transport_flow(a2, b2, cost, u[Ks - 1], cells, /*penalized=*/true);
    p.f = p.flow.cost + p.flow.penalty;
    p.g.assign(Ks, 0.0);
    for (size_t k = 0; k < Ks; ++k) {
      const auto [i, j] = order[k];
      p.f += cost(i, j) * u[k];
      p.g[k] = cost(i, j) - p.flow.u[static_cast<size_t>(i)] - p.flow.v[static_cast<size_t>(j)];
    }
    double cap_slope = 0;
    for (int64_t i = 0; i < m; ++i) {
      const double ui = p.flow.u[static_cast<size_t>(i)];
      for (int64_t j = 0; j < n; ++j) cap_slope += std::min(0.0, cost(i, j) - ui - p.flow.v[static_cast<size_t>(j)]);
    }
    for (size_t k = 0; k < Ks; ++k) {  // the order cells are not capped
      const auto [i, j] = order[k];
      cap_slope -= std::min(0.0, cost(i, j) - p.flow.u[static_cast<size_t>(i)] - p.flow.v[static_cast<size_t>(j)]);
    }
    p.g[Ks - 1] += cap_slope;
    return p;
  };

  // Kelley's cutting planes: the master LP (core/lp.h, re-solved from its
  // last basis as cuts arrive) minimises the largest tangent plane over the
  // box 0 <= u_k <= min(a_(i_k), b_(j_k)) with the chain u_1 >= ... >= u_K
  // and the capacity each line needs (a row with an order cell holds at most
  // u_k + (n - 1) u_K, any other row n u_K). It works in units where the
  // masses and costs are of order 1: x = u mn / mass, z = f / (mass cost_scale).
  const double x_scale = static_cast<double>(m * n) / mass, z_scale = 1.0 / (mass * cost_scale);
  LpModel master;
  master.cols = K + 1;  // x_1..x_K, z
  master.objective.assign(Ks + 1, 0.0);
  master.objective[Ks] = 1;
  master.col_lower.assign(Ks + 1, 0.0);
  master.col_upper.assign(Ks + 1, kLpInfinity);
  master.col_lower[Ks] = -kLpInfinity;
  std::vector<double> hi(Ks);
  for (size_t k = 0; k < Ks; ++k) {
    hi[k] = std::min(a[static_cast<size_t>(order[k].first)], b[static_cast<size_t>(order[k].second)]);
    if (k > 0) hi[k] = std::min(hi[k], hi[k - 1]);
    master.col_upper[k] = hi[k] * x_scale;
  }
  for (size_t k = 0; k + 1 < Ks; ++k)
    master.add_row({{static_cast<int64_t>(k), 1.0}, {static_cast<int64_t>(k) + 1, -1.0}}, 0, kLpInfinity);
  // The lines' capacity: every line must fit its mass under the caps.
  std::vector<bool> ordered_row(static_cast<size_t>(m), false), ordered_col(static_cast<size_t>(n), false);
  for (size_t k = 0; k < Ks; ++k) {
    ordered_row[static_cast<size_t>(order[k].first)] = ordered_col[static_cast<size_t>(order[k].second)] = true;
    const double ai = a[static_cast<size_t>(order[k].first)] * x_scale,
                 bj = b[static_cast<size_t>(order[k].second)] * x_scale;
    if (k + 1 < Ks) {
      master.add_row({{static_cast<int64_t>(k), 1.0}, {K - 1, static_cast<double>(n - 1)}}, ai, kLpInfinity);
      master.add_row({{static_cast<int64_t>(k), 1.0}, {K - 1, static_cast<double>(m - 1)}}, bj, kLpInfinity);
    } else {
      master.col_lower[Ks - 1] =
          std::max({master.col_lower[Ks - 1], ai / static_cast<double>(n), bj / static_cast<double>(m)});
    }
  }
  for (int64_t i = 0; i < m; ++i)
    if (!ordered_row[static_cast<size_t>(i)])
      master.col_lower[Ks - 1] =
          std::max(master.col_lower[Ks - 1], a[static_cast<size_t>(i)] * x_scale / static_cast<double>(n));
  for (int64_t j = 0; j < n; ++j)
    if (!ordered_col[static_cast<size_t>(j)])
      master.col_lower[Ks - 1] =
          std::max(master.col_lower[Ks - 1], b[static_cast<size_t>(j)] * x_scale / static_cast<double>(m));
  if (master.col_lower[Ks - 1] > master.col_upper[Ks - 1] * (1 + 1e-12))
    throw Error("ot: no plan can make the order cells the largest entries (infeasible)");
  master.col_lower[Ks - 1] = std::min(master.col_lower[Ks - 1], master.col_upper[Ks - 1]);
  for (size_t k = 0; k + 1 < Ks; ++k) master.col_lower[k] = master.col_lower[Ks - 1];

  // The first cut from the largest values the box allows.
  std::vector<double> u(Ks);
  for (size_t k = 0; k < Ks; ++k) u[k] = hi[k];
  Point best = evaluate(u);
  std::vector<Point> cuts;
  LpSolver solver(master);
  auto add_cut = [&](const Point& p) {
    // z >= f(u) + g (u' - u), in master units.
    std::vector<std::pair<int64_t, double>> row = {{K, 1.0}};
    double rhs = p.f * z_scale;
    for (size_t k = 0; k < Ks; ++k) {
      const double coef = p.g[k] * z_scale / x_scale;
      row.push_back({static_cast<int64_t>(k), -coef});
      rhs -= coef * p.u[k] * x_scale;
    }
    solver.add_row(row, rhs, kLpInfinity);
  };
  add_cut(best);
  LpOptions tight;
  tight.primal_tolerance = tight.dual_tolerance = 1e-11;
  const int64_t max_cuts = 500;
  bool closed = false;
  for (int64_t it = 0; it < max_cuts; ++it) {
    LpResult lp = solver.solve(tight);
    if (!lp.optimal()) break;
    for (size_t k = 0; k < Ks; ++k) u[k] = std::clamp(lp.primal[k] / x_scale, 0.0, hi[k]);
    for (size_t k = 1; k < Ks; ++k) u[k] = std::min(u[k], u[k - 1]);
    const double lower = lp.primal[Ks] / z_scale;  // the model's minimum: a lower bound on f
    Point p = evaluate(u);
    if (p.f < best.f) best = p;
    if (best.f - lower <= 1e-11 * std::max(std::abs(best.f), mass * cost_scale * 1e-3)) {
      closed = true;
      break;
    }
    add_cut(p);
  }
  // The minimiser must route everything on real arcs; otherwise, or if the
  // cuts did not close the gap, the LP decides (and reports infeasibility).
  if (!closed || !best.flow.feasible) {
    Result r = order_constrained_lp(a, b, cost, order);
    r.iterations += solves;
    return r;
  }
  Result r;
  r.plan = std::move(best.flow.plan);
  for (size_t k = 0; k < Ks; ++k) r.plan(order[k].first, order[k].second) = best.u[k];
  r.cost = transport_cost(cost, r.plan);
  r.status = "optimal";
  r.iterations = solves;
  r.marginal_error = marginal_error(a, b, r.plan);
  return r;
}

namespace detail {

Solver flow_solver() {
  return make_solver(
      "exact by network simplex: plain OT without order cells, cutting planes over the cells' values with them",
      [](const Problem& p) {
        if (p.order.empty()) return emd(p.a, p.b, p.cost);
        return order_constrained_flow(p.a, p.b, p.cost, p.order);
      });
}

}  // namespace detail

}  // namespace loom::ot
