// The exact flow-based solver for one designated cell, and the dispatch over
// order-constrained methods.
#include <cmath>
#include <functional>
#include <limits>

#include "loom/core/error.h"
#include "loom/ot/ot.h"
#include "network_flow.h"

namespace loom::ot {

namespace {

// Golden-section search for the minimum of a convex f on [lo, hi].
template <typename F>
double golden_minimum(F f, double lo, double hi, int iterations, double* best_x) {
  const double phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo);
  double f1 = f(x1), f2 = f(x2);
  double best = std::min({f(lo), f(hi), f1, f2});
  *best_x = best == f1 ? x1 : best == f2 ? x2 : best == f(lo) ? lo : hi;
  for (int it = 0; it < iterations; ++it) {
    if (f1 <= f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - phi * (hi - lo);
      f1 = f(x1);
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + phi * (hi - lo);
      f2 = f(x2);
    }
    if (f1 < best) best = f1, *best_x = x1;
    if (f2 < best) best = f2, *best_x = x2;
  }
  return best;
}

}  // namespace

Result order_constrained_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                              const Cell& cell) {
  validate(a, b, cost, {cell});
  const int64_t m = cost.rows, n = cost.cols;
  const auto [i1, j1] = cell;
  double lo = 0, hi = std::min(a[static_cast<size_t>(i1)], b[static_cast<size_t>(j1)]);
  for (double x : a) lo = std::max(lo, x / static_cast<double>(n));
  for (double x : b) lo = std::max(lo, x / static_cast<double>(m));
  if (lo > hi * (1 + 1e-12)) throw Error("ot: no plan can make the order cell the largest entry (infeasible)");
  int64_t solves = 0;
  auto solve_at = [&](double u) {
    auto a2 = a, b2 = b;
    a2[static_cast<size_t>(i1)] -= u;
    b2[static_cast<size_t>(j1)] -= u;
    ++solves;
    auto flow = detail::transport_flow(a2, b2, cost, u, cell);
    if (flow.feasible) flow.plan(i1, j1) = u;
    return flow;
  };
  auto objective = [&](double u) {
    auto flow = solve_at(u);
    return flow.feasible ? flow.cost + cost(i1, j1) * u : std::numeric_limits<double>::infinity();
  };
  double best_u = hi;
  golden_minimum(objective, lo, hi, 60, &best_u);
  auto flow = solve_at(best_u);
  if (!flow.feasible) throw Error("ot: the capacitated transport problem is infeasible");
  Result r;
  r.plan = std::move(flow.plan);
  r.cost = transport_cost(cost, r.plan);
  r.status = "optimal";
  r.iterations = solves;
  r.marginal_error = marginal_error(a, b, r.plan);
  return r;
}

const std::vector<std::string>& order_constrained_methods() {
  static const std::vector<std::string> names = {"exact", "flow", "lp", "admm"};
  return names;
}

Result order_constrained(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                         const std::vector<Cell>& order, const std::string& method) {
  if (order.empty()) {
    if (method == "sinkhorn") throw Error("ot: use sinkhorn() for entropic OT without order constraints");
    return emd(a, b, cost);
  }
  if (method == "admm") return order_constrained_admm(a, b, cost, order);
  if (method == "lp") return order_constrained_lp(a, b, cost, order);
  if (method == "flow" || (method == "exact" && order.size() == 1)) {
    if (order.size() != 1) throw Error("ot: method 'flow' handles exactly one order cell; use 'lp' or 'admm'");
    return order_constrained_flow(a, b, cost, order[0]);
  }
  if (method == "exact") return order_constrained_lp(a, b, cost, order);
  std::string valid;
  for (const auto& name : order_constrained_methods()) valid += (valid.empty() ? "" : ", ") + name;
  throw Error("ot: unknown method '" + method + "' (valid: " + valid + ")");
}

}  // namespace loom::ot
