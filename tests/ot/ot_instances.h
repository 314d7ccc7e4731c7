// Shared by the OT test suites: random instances and the checks every
// claimed-feasible result must pass.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "loom/ot/ot.h"

namespace loom::ot::testing {

struct Instance {
  std::vector<double> a, b;
  Matrix cost;
};

inline void expect_order_holds(const Matrix& plan, const std::vector<Cell>& order, double tol) {
  for (size_t k = 0; k + 1 < order.size(); ++k)
    EXPECT_GE(plan(order[k].first, order[k].second) + tol, plan(order[k + 1].first, order[k + 1].second));
  double last = plan(order.back().first, order.back().second);
  for (int64_t i = 0; i < plan.rows; ++i)
    for (int64_t j = 0; j < plan.cols; ++j)
      if (std::find(order.begin(), order.end(), Cell{i, j}) == order.end()) {
        EXPECT_GE(last + tol, plan(i, j));
      }
}

// The issue's family: non-uniform marginals, costs in [0, 10), K order cells
// in distinct random rows and columns.
struct OrderInstance : Instance {
  std::vector<Cell> order;
};

inline OrderInstance issue_instance(int64_t m, int64_t n, int64_t K, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  OrderInstance p;
  p.a.resize(static_cast<size_t>(m));
  p.b.resize(static_cast<size_t>(n));
  p.cost = Matrix(m, n);
  double sa = 0, sb = 0;
  for (auto& x : p.a) sa += (x = 0.1 + u(rng));
  for (auto& x : p.b) sb += (x = 0.1 + u(rng));
  for (auto& x : p.a) x /= sa;
  for (auto& x : p.b) x /= sb;
  for (auto& c : p.cost.data) c = 10 * u(rng);
  std::vector<int64_t> rows(static_cast<size_t>(m)), cols(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), 0);
  std::iota(cols.begin(), cols.end(), 0);
  std::shuffle(rows.begin(), rows.end(), rng);
  std::shuffle(cols.begin(), cols.end(), rng);
  for (int64_t k = 0; k < K; ++k) p.order.push_back({rows[static_cast<size_t>(k)], cols[static_cast<size_t>(k)]});
  return p;
}

// A result that claims feasibility (optimal, converged) must be feasible: its
// marginals within 1e-6 and the order constraints held, and so its objective
// can never lie below the plain OT optimum. The marginals and the cost are
// recomputed from the plan, not taken from the solver's own report.
inline void expect_honest(const Result& r, const Instance& p, const std::vector<Cell>& order, double plain) {
  if (r.status != "optimal" && r.status != "converged") return;
  EXPECT_LE(r.marginal_error, 1e-6) << r.status;
  std::vector<double> rows(p.a.size(), 0.0), cols(p.b.size(), 0.0);
  double cost = 0;
  for (int64_t i = 0; i < r.plan.rows; ++i)
    for (int64_t j = 0; j < r.plan.cols; ++j) {
      EXPECT_GE(r.plan(i, j), -1e-9) << r.status << ": negative mass at " << i << "," << j;
      rows[static_cast<size_t>(i)] += r.plan(i, j);
      cols[static_cast<size_t>(j)] += r.plan(i, j);
      cost += p.cost(i, j) * r.plan(i, j);
    }
  double error = 0;
  for (size_t i = 0; i < rows.size(); ++i) error = std::max(error, std::abs(rows[i] - p.a[i]));
  for (size_t j = 0; j < cols.size(); ++j) error = std::max(error, std::abs(cols[j] - p.b[j]));
  EXPECT_LE(error, 1e-6) << r.status << ": marginals recomputed from the plan";
  EXPECT_NEAR(cost, r.cost, 1e-9 * std::max(1.0, std::abs(cost))) << r.status << ": reported cost";
  EXPECT_GE(r.cost, plain - 1e-9 * std::abs(plain)) << r.status << ": below the unconstrained optimum";
  if (!order.empty()) expect_order_holds(r.plan, order, 1e-12);
}

}  // namespace loom::ot::testing
