#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "loom/core/error.h"
#include "loom/ot/ot.h"

namespace loom::ot {

namespace {

// Relaxation over the rows of `cost` (or its transpose): each row alone
// places its mass in its cheapest cells, none above u, with the top order
// cell holding exactly u. Piecewise linear and convex in u.
double relaxed_rows(const std::vector<double>& mass, const Matrix& cost, const Cell& top, double u,
                    const std::vector<std::vector<int64_t>>& cheapest) {
  double total = 0;
  for (int64_t i = 0; i < cost.rows; ++i) {
    double left = mass[static_cast<size_t>(i)];
    if (i == top.first) {
      total += cost(i, top.second) * u;
      left -= u;
    }
    for (int64_t j : cheapest[static_cast<size_t>(i)]) {
      if (left <= 0) break;
      if (i == top.first && j == top.second) continue;
      double x = std::min(u, left);
      total += cost(i, j) * x;
      left -= x;
    }
    if (left > 1e-12 * std::max(1.0, mass[static_cast<size_t>(i)])) return std::numeric_limits<double>::infinity();
  }
  return total;
}

double relaxation_bound(const std::vector<double>& rows_mass, const std::vector<double>& cols_mass, const Matrix& cost,
                        const Cell& top) {
  std::vector<std::vector<int64_t>> cheapest(static_cast<size_t>(cost.rows));
  for (int64_t i = 0; i < cost.rows; ++i) {
    auto& order = cheapest[static_cast<size_t>(i)];
    order.resize(static_cast<size_t>(cost.cols));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return cost(i, p) < cost(i, q); });
  }
  double lo = 0;
  for (double x : rows_mass) lo = std::max(lo, x / static_cast<double>(cost.cols));
  double hi = std::min(rows_mass[static_cast<size_t>(top.first)], cols_mass[static_cast<size_t>(top.second)]);
  if (lo > hi) return std::numeric_limits<double>::infinity();
  // Golden-section search over the convex function of u.
  auto f = [&](double u) { return relaxed_rows(rows_mass, cost, top, u, cheapest); };
  const double phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo), f1 = f(x1), f2 = f(x2);
  double best = std::min({f(lo), f(hi), f1, f2});
  for (int it = 0; it < 80; ++it) {
    if (f1 <= f2) {
      hi = x2, x2 = x1, f2 = f1, x1 = hi - phi * (hi - lo), f1 = f(x1);
    } else {
      lo = x1, x1 = x2, f1 = f2, x2 = lo + phi * (hi - lo), f2 = f(x2);
    }
    best = std::min({best, f1, f2});
  }
  return best;
}

Matrix transpose(const Matrix& c) {
  Matrix t(c.cols, c.rows);
  for (int64_t i = 0; i < c.rows; ++i)
    for (int64_t j = 0; j < c.cols; ++j) t(j, i) = c(i, j);
  return t;
}

}  // namespace

double order_constrained_lower_bound(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                                     const std::vector<Cell>& order) {
  validate(a, b, cost, order);
  if (order.empty()) throw Error("ot: the lower bound needs at least one order cell");
  const Cell top = order[0];
  double by_rows = relaxation_bound(a, b, cost, top);
  double by_cols = relaxation_bound(b, a, transpose(cost), {top.second, top.first});
  return std::max(by_rows, by_cols);
}

}  // namespace loom::ot
