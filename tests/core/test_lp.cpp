#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "error_message.h"
#include "loom/core/lp.h"

using namespace loom;
using loom::testing::error_of;

namespace {

// max x + y s.t. x + 2y <= 4, 3x + y <= 6, x, y >= 0: x = 1.6, y = 1.2, and
// the duals of the two rows are 0.4 and 0.2 (as a minimisation of -x - y
// they are -0.4 and -0.2).
LpModel textbook() {
  LpModel m;
  m.cols = 2;
  m.objective = {-1, -1};
  m.add_row({{0, 1.0}, {1, 2.0}}, -kLpInfinity, 4);
  m.add_row({{0, 3.0}, {1, 1.0}}, -kLpInfinity, 6);
  return m;
}

// A transport problem (rows: sources, then sinks) on an n x n grid of arcs.
LpModel transport(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.1, 1.0);
  LpModel m;
  m.cols = n * n;
  std::vector<double> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
  double sa = 0, sb = 0;
  for (auto& x : a) sa += (x = u(rng));
  for (auto& x : b) sb += (x = u(rng));
  for (auto& x : a) x /= sa;
  for (auto& x : b) x /= sb;
  for (int64_t k = 0; k < n * n; ++k) m.objective.push_back(u(rng));
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<int64_t, double>> row;
    for (int64_t j = 0; j < n; ++j) row.push_back({i * n + j, 1.0});
    m.add_row(row, a[static_cast<size_t>(i)], a[static_cast<size_t>(i)]);
  }
  for (int64_t j = 0; j < n; ++j) {
    std::vector<std::pair<int64_t, double>> row;
    for (int64_t i = 0; i < n; ++i) row.push_back({i * n + j, 1.0});
    m.add_row(row, b[static_cast<size_t>(j)], b[static_cast<size_t>(j)]);
  }
  return m;
}

// Optimality of an LP solution from first principles: primal feasibility,
// reduced costs d = c - A'y of the right sign at each bound, row duals of the
// right sign at each active side, and a zero duality gap.
void expect_kkt(const LpModel& m, const LpResult& r, double tol) {
  ASSERT_EQ(r.status, LpStatus::Optimal);
  std::vector<double> ax(static_cast<size_t>(m.rows), 0.0), aty(static_cast<size_t>(m.cols), 0.0);
  for (const LpEntry& e : m.matrix) {
    ax[static_cast<size_t>(e.row)] += e.value * r.primal[static_cast<size_t>(e.col)];
    aty[static_cast<size_t>(e.col)] += e.value * r.duals[static_cast<size_t>(e.row)];
  }
  double primal = 0, dual = 0;
  for (int64_t j = 0; j < m.cols; ++j) {
    const size_t k = static_cast<size_t>(j);
    const double lo = m.col_lower.empty() ? 0.0 : m.col_lower[k],
                 hi = m.col_upper.empty() ? kLpInfinity : m.col_upper[k];
    const double x = r.primal[k], d = m.objective[k] - aty[k];
    EXPECT_NEAR(d, r.reduced_costs[k], tol);
    EXPECT_GE(x, lo - tol);
    EXPECT_LE(x, hi + tol);
    if (x > lo + tol) {
      EXPECT_LE(d, tol) << "column " << j;
    }  // off its lower bound: d <= 0
    if (x < hi - tol) {
      EXPECT_GE(d, -tol) << "column " << j;
    }
    primal += m.objective[k] * x;
    dual += d * (d > 0 ? lo : hi == kLpInfinity ? 0.0 : hi);
  }
  for (int64_t i = 0; i < m.rows; ++i) {
    const size_t k = static_cast<size_t>(i);
    const double y = r.duals[k];
    EXPECT_NEAR(ax[k], r.row_activity[k], tol);
    EXPECT_GE(ax[k], m.row_lower[k] - tol);
    EXPECT_LE(ax[k], m.row_upper[k] + tol);
    if (ax[k] > m.row_lower[k] + tol) {
      EXPECT_LE(y, tol) << "row " << i;
    }
    if (ax[k] < m.row_upper[k] - tol) {
      EXPECT_GE(y, -tol) << "row " << i;
    }
    dual += y * (y > 0 ? m.row_lower[k] : m.row_upper[k]);
  }
  EXPECT_NEAR(primal, r.objective, tol);
  EXPECT_NEAR(dual, r.objective, tol);
}

}  // namespace

TEST(Lp, SolvesTheTextbookProblemWithItsDuals) {
  LpModel m = textbook();
  LpSolver solver(m);
  LpResult r = solver.solve();
  ASSERT_EQ(r.status, LpStatus::Optimal);
  EXPECT_NEAR(r.primal[0], 1.6, 1e-12);
  EXPECT_NEAR(r.primal[1], 1.2, 1e-12);
  EXPECT_NEAR(r.objective, -2.8, 1e-12);
  EXPECT_NEAR(r.duals[0], -0.4, 1e-12);
  EXPECT_NEAR(r.duals[1], -0.2, 1e-12);
  expect_kkt(m, r, 1e-9);
}

TEST(Lp, RandomTransportProblemsMeetTheOptimalityConditions) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    LpModel m = transport(12, seed);
    // Capacities of 1/48 (a quarter of a mean mass) make arcs sit at their upper bound.
    const double cap = 1.0 / 48;
    m.col_upper.assign(static_cast<size_t>(m.cols), cap);
    LpSolver solver(m);
    LpResult r = solver.solve();
    expect_kkt(m, r, 1e-9);
    EXPECT_GT(std::count_if(r.primal.begin(), r.primal.end(), [&](double x) { return x > cap - 1e-12; }), 5);
  }
}

TEST(Lp, ResolvesHotStartedFromTheLastBasis) {
  LpModel m = transport(20, 7);
  LpSolver solver(m);
  LpResult first = solver.solve();
  ASSERT_TRUE(first.optimal());
  // New objective coefficients (as a scenario's prices change): the primal
  // simplex resumes from the old basis, which stays primal feasible.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> jitter(-0.02, 0.02);
  LpModel changed = m;
  for (auto& c : changed.objective) c += jitter(rng);
  solver.set_objective(changed.objective);
  LpResult warm = solver.solve();
  LpResult cold = LpSolver(changed).solve();
  expect_kkt(changed, warm, 1e-9);
  EXPECT_NEAR(warm.objective, cold.objective, 1e-12);
  EXPECT_LT(warm.iterations, cold.iterations / 2) << warm.iterations << " vs " << cold.iterations;
  // Changed bounds: the dual simplex resumes, the basis stays dual feasible.
  for (int64_t k = 0; k < changed.cols; ++k)
    if (warm.primal[static_cast<size_t>(k)] > 1e-9) {
      changed.col_upper.assign(static_cast<size_t>(changed.cols), kLpInfinity);
      changed.col_upper[static_cast<size_t>(k)] = warm.primal[static_cast<size_t>(k)] / 2;
      solver.set_col_bounds(k, 0, changed.col_upper[static_cast<size_t>(k)]);
      break;
    }
  LpResult bounded = solver.solve();
  expect_kkt(changed, bounded, 1e-9);
  EXPECT_NEAR(bounded.objective, LpSolver(changed).solve().objective, 1e-12);
  EXPECT_LE(bounded.iterations, 30);
}

TEST(Lp, OneSolverServesTwoScenariosEachFromItsOwnBasis) {
  LpModel m = transport(15, 11);
  LpModel other = transport(15, 12);  // same matrix, other costs
  LpSolver solver(m);
  ASSERT_TRUE(solver.solve().optimal());
  LpBasis basis_m = solver.basis();
  solver.set_objective(other.objective);
  LpResult r_other = solver.solve();
  ASSERT_TRUE(r_other.optimal());
  LpBasis basis_other = solver.basis();
  // Back to the first scenario with its own basis: nothing left to pivot.
  solver.set_objective(m.objective);
  solver.set_basis(basis_m);
  LpResult again = solver.solve();
  expect_kkt(m, again, 1e-9);
  EXPECT_EQ(again.iterations, 0);
  solver.set_objective(other.objective);
  solver.set_basis(basis_other);
  EXPECT_EQ(solver.solve().iterations, 0);
  EXPECT_NE(error_of([&] { solver.set_basis(LpBasis{{1, 1}, {1}}); }).find("does not fit"), std::string::npos);
}

TEST(Lp, CutsAddedBetweenSolves) {
  LpModel m = textbook();
  LpSolver solver(m);
  ASSERT_TRUE(solver.solve().optimal());
  // x <= 1 cuts off (1.6, 1.2): the optimum moves to x = 1, y = 1.5.
  EXPECT_EQ(solver.add_row({{0, 1.0}}, -kLpInfinity, 1.0), 2);
  LpResult r = solver.solve();
  m.add_row({{0, 1.0}}, -kLpInfinity, 1.0);
  expect_kkt(m, r, 1e-9);
  EXPECT_NEAR(r.primal[0], 1.0, 1e-12);
  EXPECT_NEAR(r.primal[1], 1.5, 1e-12);
}

TEST(Lp, DiagonalProximalQpMatchesTheClosedForm) {
  // min sum_j q_j/2 (x_j - t_j)^2 over {sum x = 1, 0 <= x <= 1}: x_j =
  // clip(t_j + lambda / q_j, 0, 1) with lambda found by bisection. Re-solved
  // for new targets t (new linear terms -q_j t_j) and new weights q (a
  // quadratic term replaced, as progressive hedging's adaptive penalty does)
  // from the last basis.
  const int64_t n = 30;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> q(static_cast<size_t>(n));
  for (auto& x : q) x = 0.5 + u(rng);
  LpModel m;
  m.cols = n;
  m.col_upper.assign(static_cast<size_t>(n), 1.0);
  std::vector<std::pair<int64_t, double>> ones;
  for (int64_t j = 0; j < n; ++j) ones.push_back({j, 1.0});
  m.add_row(ones, 1.0, 1.0);
  m.objective.assign(static_cast<size_t>(n), 0.0);
  LpSolver solver(m);
  solver.set_quadratic_diagonal(q);
  for (int round = 0; round < 3; ++round) {
    if (round > 0) {
      for (auto& x : q) x = 0.5 + u(rng);
      solver.set_quadratic_diagonal(q);
    }
    std::vector<double> t(static_cast<size_t>(n)), c(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      t[static_cast<size_t>(j)] = u(rng) * 0.2 - 0.05;
      c[static_cast<size_t>(j)] = -q[static_cast<size_t>(j)] * t[static_cast<size_t>(j)];
    }
    auto x_of = [&](double lambda, size_t j) { return std::clamp(t[j] + lambda / q[j], 0.0, 1.0); };
    double lo = -10, hi = 10;
    for (int it = 0; it < 200; ++it) {
      double mid = 0.5 * (lo + hi), s = 0;
      for (size_t j = 0; j < q.size(); ++j) s += x_of(mid, j);
      (s > 1 ? hi : lo) = mid;
    }
    solver.set_objective(c);
    LpResult r = solver.solve();
    ASSERT_EQ(r.status, LpStatus::Optimal);
    double objective = 0;
    for (size_t j = 0; j < q.size(); ++j) {
      // 1e-6: the accuracy core/lp.h documents for QPs (Clp's reduced gradient).
      EXPECT_NEAR(r.primal[j], x_of(lo, j), 1e-6) << "round " << round << " j " << j;
      objective += c[j] * r.primal[j] + 0.5 * q[j] * r.primal[j] * r.primal[j];
    }
    EXPECT_NEAR(r.objective, objective, 1e-9);
    EXPECT_NEAR(r.duals[0], lo, 1e-6);  // the row's multiplier is lambda
  }
}

TEST(Lp, SparseQuadraticTermsCountEachSymmetricPairOnce) {
  // min 1/2 x'[[2, 1], [1, 2]]x - x1 - x2 (a loose row keeps it bounded):
  // x = Q^-1 (1, 1) = (1/3, 1/3), objective -1/3.
  LpModel m;
  m.cols = 2;
  m.objective = {-1, -1};
  m.col_lower = {-kLpInfinity, -kLpInfinity};
  m.col_upper = {kLpInfinity, kLpInfinity};
  m.add_row({{0, 1.0}, {1, 1.0}}, -kLpInfinity, 10);
  m.quadratic = {{0, 0, 2.0}, {1, 0, 1.0}, {1, 1, 2.0}};
  LpSolver solver(m);
  LpResult r = solver.solve();
  ASSERT_EQ(r.status, LpStatus::Optimal);
  // 1e-7: the barrier's accuracy on free columns (core/lp.h documents 1e-6 for QPs).
  EXPECT_NEAR(r.primal[0], 1.0 / 3, 1e-7);
  EXPECT_NEAR(r.primal[1], 1.0 / 3, 1e-7);
  EXPECT_NEAR(r.objective, -1.0 / 3, 1e-9);
  // Dropping Q makes it an LP again, whose optimum lies on the row x1 + x2 = 10,
  // by either simplex starting from the QP's (superbasic) point.
  solver.set_quadratic({});
  for (LpAlgorithm algorithm : {LpAlgorithm::Dual, LpAlgorithm::Primal}) {
    LpSolver copy(m);
    ASSERT_TRUE(copy.solve().optimal());
    copy.set_quadratic({});
    LpResult lp = copy.solve({algorithm});
    ASSERT_EQ(lp.status, LpStatus::Optimal);
    EXPECT_NEAR(lp.objective, -10, 1e-9);
    EXPECT_NEAR(lp.row_activity[0], 10, 1e-9);
  }
}

TEST(Lp, InfeasibleUnboundedAndCappedAreStatusesNotCrashes) {
  LpModel m = textbook();
  m.add_row({{0, 1.0}, {1, 1.0}}, 5, kLpInfinity);  // x + y >= 5 is out of reach
  EXPECT_EQ(LpSolver(m).solve().status, LpStatus::Infeasible);
  LpModel u;
  u.cols = 2;
  u.objective = {-1, 0};
  u.add_row({{0, 1.0}, {1, -1.0}}, -kLpInfinity, 1);  // x - y <= 1, x grows with y
  for (LpAlgorithm algorithm : {LpAlgorithm::Automatic, LpAlgorithm::Primal, LpAlgorithm::Dual})
    EXPECT_EQ(LpSolver(u).solve({algorithm}).status, LpStatus::Unbounded);
  LpSolver solver(textbook());
  solver.set_col_bounds(0, 2, 1);  // lower above upper
  EXPECT_EQ(solver.solve().status, LpStatus::Infeasible);
  LpModel big = transport(20, 1);
  LpOptions capped;
  capped.max_iterations = 3;
  EXPECT_EQ(LpSolver(big).solve(capped).status, LpStatus::IterationLimit);
  EXPECT_STREQ(lp_status_name(LpStatus::IterationLimit), "iteration_limit");
}

TEST(Lp, BadInputNamesTheField) {
  LpModel m = textbook();
  m.objective[1] = std::nan("");
  EXPECT_NE(error_of([&] { LpSolver s(m); }).find("objective[1] is NaN"), std::string::npos);
  m = textbook();
  m.matrix.push_back({0, 1, 5.0});
  std::string e = error_of([&] { LpSolver s(m); });
  EXPECT_NE(e.find("matrix entry 4 (row 0, col 1) repeats"), std::string::npos) << e;
  m = textbook();
  m.matrix.push_back({2, 0, 1.0});
  e = error_of([&] { LpSolver s(m); });
  EXPECT_NE(e.find("matrix entry 4 (row 2, col 0) is outside the 2 x 2 matrix"), std::string::npos) << e;
  m = textbook();
  m.row_upper.pop_back();
  EXPECT_NE(error_of([&] { LpSolver s(m); }).find("row_upper has 1 entries, expected 2"), std::string::npos);
  m = textbook();
  m.quadratic = {{0, 1, 1.0}};
  EXPECT_NE(error_of([&] { LpSolver s(m); }).find("above the diagonal"), std::string::npos);
  LpSolver solver(textbook());
  EXPECT_NE(error_of([&] { solver.set_row_bounds(0, std::nan(""), 1); }).find("row 0 has bounds"), std::string::npos);
  EXPECT_NE(error_of([&] { solver.set_objective(2, 1.0); }).find("column 2 is out of range"), std::string::npos);
  EXPECT_NE(error_of([&] { solver.add_row({{0, 1.0}, {0, 2.0}}, 0, 1); }).find("twice"), std::string::npos);
}
