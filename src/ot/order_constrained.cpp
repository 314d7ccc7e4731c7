// The exact flow-based solver for one designated cell.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "loom/core/error.h"
#include "loom/ot/ot.h"
#include "network_flow.h"
#include "solver_entries.h"

namespace loom::ot {

Result order_constrained_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                              const Cell& cell) {
  validate(a, b, cost, {cell});
  const int64_t m = cost.rows, n = cost.cols;
  const auto [i1, j1] = cell;
  double lo = 0, hi = std::min(a[static_cast<size_t>(i1)], b[static_cast<size_t>(j1)]);
  for (double x : a) lo = std::max(lo, x / static_cast<double>(n));
  for (double x : b) lo = std::max(lo, x / static_cast<double>(m));
  if (lo > hi * (1 + 1e-12)) throw Error("ot: no plan can make the order cell the largest entry (infeasible)");
  lo = std::min(lo, hi);

  // f(u) = C_d u + (min-cost flow with the order cell fixed at u and every
  // other cell capped at u). The flow duals give a subgradient:
  //   f'(u) = C_d - u_i1 - v_j1 + sum over capped arcs of min(0, reduced cost).
  struct Point {
    double u, f = std::numeric_limits<double>::infinity(), g = 0;
    detail::FlowResult flow;
  };
  int64_t solves = 0;
  auto evaluate = [&](double u) {
    Point p;
    p.u = u;
    auto a2 = a, b2 = b;
    a2[static_cast<size_t>(i1)] -= u;
    b2[static_cast<size_t>(j1)] -= u;
    ++solves;
    p.flow = detail::transport_flow(a2, b2, cost, u, {i1 * n + j1});
    if (!p.flow.feasible) return p;
    p.flow.plan(i1, j1) = u;
    p.f = transport_cost(cost, p.flow.plan);
    p.g = cost(i1, j1) - p.flow.u[static_cast<size_t>(i1)] - p.flow.v[static_cast<size_t>(j1)];
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if (i == i1 && j == j1) continue;
        if (p.flow.plan(i, j) >= u * (1 - 1e-9))
          p.g += std::min(0.0, cost(i, j) - p.flow.u[static_cast<size_t>(i)] - p.flow.v[static_cast<size_t>(j)]);
      }
    return p;
  };
  Point left = evaluate(lo);
  // Rounding can make the smallest u just infeasible: step inside a little.
  for (int tries = 0; !std::isfinite(left.f) && tries < 30 && lo < hi; ++tries) {
    lo += std::max(1e-12, (hi - lo) * 1e-9 * std::pow(4.0, tries));
    left = evaluate(std::min(lo, hi));
  }
  if (!std::isfinite(left.f)) throw Error("ot: the capacitated transport problem is infeasible");
  Point right = evaluate(hi);
  Point best = left.f <= right.f ? left : right;
  // Kelley's cutting planes in one dimension: the next point is where the
  // tangents at the bracket ends meet. f is convex and piecewise linear, so
  // this ends after as many steps as f has pieces near the optimum.
  for (int it = 0; it < 100 && std::isfinite(right.f) && left.g < 0 && right.g > 0; ++it) {
    double u = (right.f - left.f + left.g * left.u - right.g * right.u) / (left.g - right.g);
    if (!(u > left.u && u < right.u)) u = 0.5 * (left.u + right.u);
    Point mid = evaluate(u);
    if (!std::isfinite(mid.f)) break;
    if (mid.f < best.f) best = mid;
    double model = std::max(left.f + left.g * (u - left.u), right.f + right.g * (u - right.u));
    if (mid.f - model <= 1e-12 * std::max(1.0, std::abs(mid.f)) || right.u - left.u <= 1e-13 * right.u) break;
    (mid.g > 0 ? right : left) = std::move(mid);
  }
  Result r;
  r.plan = std::move(best.flow.plan);
  r.cost = transport_cost(cost, r.plan);
  r.status = "optimal";
  r.iterations = solves;
  r.marginal_error = marginal_error(a, b, r.plan);
  return r;
}

namespace detail {

Solver flow_solver() {
  return make_solver(
      "exact by network simplex: plain OT without order cells, a 1-D search over the cell's value for one",
      [](const Problem& p) {
        if (p.order.empty()) return emd(p.a, p.b, p.cost);
        if (p.order.size() != 1) throw Error("ot: method 'flow' handles exactly one order cell; use 'lp' or 'admm'");
        return order_constrained_flow(p.a, p.b, p.cost, p.order[0]);
      });
}

}  // namespace detail

}  // namespace loom::ot
