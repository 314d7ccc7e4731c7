// Progressive hedging against the extensive form, CVaR by Rockafellar–Uryasev
// against the sorted sample, κ = 1 against the policy, and the portfolio's
// stochastic program.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "loom/core/error.h"
#include "loom/rl/portfolio.h"
#include "loom/rl/progressive_hedging.h"
#include "ph_engine.h"
#include "rl_util.h"

namespace loom::rl {
namespace {

// A two-stage problem with a known structure: the root allocates x over
// `items` resources (x >= 0, Σ x = 1); each scenario has per-resource
// values v_s and a recourse y_s in [0, cap] per resource with y_s <= x, paying
// cost_s y_s: minimise -v_s.x + cost_s.y - gain_s.y. Convex (an LP).
class RecourseProgram : public StochasticProgram {
 public:
  RecourseProgram(int64_t scenarios, int64_t items, uint64_t seed) : items_(items) {
    auto rng = seeded_stream(seed, 3);
    std::uniform_real_distribution<double> u(0, 1);
    for (int64_t s = 0; s < scenarios; ++s) {
      std::vector<double> v, g;
      for (int64_t i = 0; i < items; ++i) v.push_back(u(rng)), g.push_back(u(rng) - 0.3);
      values_.push_back(v);
      gains_.push_back(g);
      constants_.push_back(u(rng));
    }
  }
  int64_t scenarios() const override { return static_cast<int64_t>(values_.size()); }
  int64_t root_size() const override { return items_; }
  LpModel scenario_model(int64_t s) const override {
    LpModel m;
    for (int64_t i = 0; i < items_; ++i) add_col(m, 0, 1, -values_[static_cast<size_t>(s)][static_cast<size_t>(i)]);
    for (int64_t i = 0; i < items_; ++i) add_col(m, 0, 0.5, -gains_[static_cast<size_t>(s)][static_cast<size_t>(i)]);
    std::vector<std::pair<int64_t, double>> all;
    for (int64_t i = 0; i < items_; ++i) all.emplace_back(i, 1.0);
    m.add_row(all, 1, 1);
    for (int64_t i = 0; i < items_; ++i) m.add_row({{items_ + i, 1.0}, {i, -1.0}}, -kLpInfinity, 0);
    return m;
  }
  double loss_constant(int64_t s) const override { return constants_[static_cast<size_t>(s)]; }
  std::vector<double> root_from_action(const std::vector<double>& a) const override { return a; }
  std::vector<double> action_from_root(const std::vector<double>& r) const override { return r; }

 private:
  int64_t items_;
  std::vector<std::vector<double>> values_, gains_;
  std::vector<double> constants_;
};

// Losses fixed per scenario, whatever the (single, pinned) root: the CVaR
// LP's optimum is then the CVaR of the sample.
class FixedLosses : public StochasticProgram {
 public:
  explicit FixedLosses(std::vector<double> losses) : losses_(std::move(losses)) {}
  int64_t scenarios() const override { return static_cast<int64_t>(losses_.size()); }
  int64_t root_size() const override { return 1; }
  LpModel scenario_model(int64_t) const override {
    LpModel m;
    add_col(m, 0, 0, 0);
    return m;
  }
  double loss_constant(int64_t s) const override { return losses_[static_cast<size_t>(s)]; }
  std::vector<double> root_from_action(const std::vector<double>& a) const override { return a; }
  std::vector<double> action_from_root(const std::vector<double>& r) const override { return r; }

 private:
  std::vector<double> losses_;
};

// The paper's stopping rule (ε = 1e-5, at most 300 iterations), κ = 0.
PhOptions plain_ph() {
  PhOptions o;
  o.kappa = KappaSchedule::Zero;
  return o;
}

TEST(ProgressiveHedging, CvarByRockafellarUryasevEqualsTheSortedSample) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> n(0, 1);
  for (int64_t count : {7, 20, 101}) {
    std::vector<double> losses;
    for (int64_t s = 0; s < count; ++s) losses.push_back(n(rng));
    FixedLosses program(losses);
    for (double alpha : {0.5, 0.9, 0.95, 0.99}) {
      const double lp = extensive_form(program, alpha).objective;
      // The sorted sample, by hand: the mean of the worst (1-α) share.
      std::vector<double> sorted = losses;
      std::sort(sorted.rbegin(), sorted.rend());
      double tail = (1 - alpha) * static_cast<double>(count), sum = 0;
      for (double l : sorted) {
        const double w = std::min(1.0, tail);
        if (w <= 0) break;
        sum += w * l;
        tail -= w;
      }
      const double expected = sum / ((1 - alpha) * static_cast<double>(count));
      EXPECT_NEAR(lp, expected, 1e-9) << count << " scenarios, alpha " << alpha;
      EXPECT_NEAR(empirical_cvar(losses, alpha), expected, 1e-12);
    }
  }
}

TEST(ProgressiveHedging, PlainPhReachesTheExtensiveFormOptimum) {
  // PH on LPs can crawl (seed 1 of this family needs ~1,000 iterations, see
  // docs/np.md); these converge within the paper's 300.
  for (uint64_t seed : {2, 3, 4, 5}) {
    RecourseProgram program(12, 4, seed);
    const auto ef = extensive_form(program, 0.0);
    PhOptions o = plain_ph();
    const PhResult ph = progressive_hedging(program, {}, {}, nullptr, o);
    ASSERT_TRUE(ph.converged) << "seed " << seed << " residual " << ph.residual;
    const double at_consensus = loss_at_root(program, ph.root, 0.0);
    EXPECT_NEAR(at_consensus, ef.objective, 1e-5 * std::max(1.0, std::fabs(ef.objective))) << "seed " << seed;
    // The consensus is an allocation.
    double sum = 0;
    for (double v : ph.root) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

TEST(ProgressiveHedging, PlainPhReachesTheCvarOptimumToo) {
  RecourseProgram program(16, 3, 9);
  for (double alpha : {0.5, 0.9}) {
    const auto ef = extensive_form(program, alpha);
    PhOptions o = plain_ph();
    o.cvar_alpha = alpha;
    // Per-scenario PH on CVaR crawls (docs/np.md); bundles of 4 converge.
    o.scenarios_per_bundle = 4;
    const PhResult ph = progressive_hedging(program, {}, {}, nullptr, o);
    // CVaR PH may hover at a residual near 1e-4 (the y multipliers keep
    // trading places); the objective has converged by then.
    EXPECT_LT(ph.residual, 1e-3) << "alpha " << alpha;
    EXPECT_NEAR(loss_at_root(program, ph.root, alpha), ef.objective, 1e-4) << "alpha " << alpha;
  }
}

TEST(ProgressiveHedging, BundlesGiveTheSameOptimum) {
  RecourseProgram program(12, 4, 4);
  const auto ef = extensive_form(program, 0.0);
  PhOptions o = plain_ph();
  o.scenarios_per_bundle = 5;  // 12 scenarios: bundles of 5, 5 and 2
  const PhResult ph = progressive_hedging(program, {}, {}, nullptr, o);
  ASSERT_TRUE(ph.converged);
  EXPECT_NEAR(loss_at_root(program, ph.root, 0.0), ef.objective, 1e-5);
}

TEST(ProgressiveHedging, LinearizedProximalTermsReachTheSameOptimum) {
  // Tangent cuts instead of the QP: every subproblem an LP re-solved from its
  // basis; the fixed point is the extensive form's optimum all the same.
  // (Seed 4 per scenario hovers at residual 1.2e-4 after 300 iterations,
  // its consensus already within 1e-5 of the optimum: PH on LPs can crawl.)
  for (uint64_t seed : {2, 5}) {
    RecourseProgram program(12, 4, seed);
    const auto ef = extensive_form(program, 0.0);
    for (int64_t per_bundle : {1, 5}) {
      PhOptions o = plain_ph();
      o.proximal = ProximalTerm::Linearized;
      o.scenarios_per_bundle = per_bundle;
      const PhResult ph = progressive_hedging(program, {}, {}, nullptr, o);
      EXPECT_TRUE(ph.converged) << "seed " << seed << " bundles " << per_bundle << " residual " << ph.residual
                                << " iterations " << ph.iterations << " cuts " << ph.proximal_cuts;
      EXPECT_GT(ph.proximal_cuts, 0) << "seed " << seed;
      EXPECT_NEAR(loss_at_root(program, ph.root, 0.0), ef.objective, 1e-5 * std::max(1.0, std::fabs(ef.objective)))
          << "seed " << seed << ", bundles of " << per_bundle;
    }
  }
}

TEST(ProgressiveHedging, LinearizedProximalTermsRefuseAFreeColumn) {
  RecourseProgram program(8, 3, 2);
  PhOptions o = plain_ph();
  o.proximal = ProximalTerm::Linearized;
  o.cvar_alpha = 0.9;  // y, the value at risk, is free
  try {
    progressive_hedging(program, {}, {}, nullptr, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("proximal: quadratic"), std::string::npos) << e.what();
  }
}

TEST(ProgressiveHedging, ARootWithoutRecourseIsReportedNotCosted) {
  RecourseProgram program(4, 3, 2);
  double loss = -1;
  // Off the allocation row Σ x = 1 by 1e-4: no scenario can complete it.
  EXPECT_FALSE(try_loss_at_root(program, {0.3, 0.3, 0.4001}, 0.0, &loss));
  EXPECT_EQ(loss, -1);
  EXPECT_THROW(loss_at_root(program, {0.3, 0.3, 0.4001}, 0.0), Error);
  ASSERT_TRUE(try_loss_at_root(program, {0.3, 0.3, 0.4}, 0.0, &loss));
  EXPECT_DOUBLE_EQ(loss, loss_at_root(program, {0.3, 0.3, 0.4}, 0.0));
}

TEST(ProgressiveHedging, KappaOneReturnsThePolicysAction) {
  RecourseProgram program(8, 4, 2);
  const std::vector<double> policy = {0.1, 0.2, 0.3, 0.4};
  PhOptions o;
  o.kappa = KappaSchedule::One;
  o.max_iterations = 5;
  const PhResult ph = progressive_hedging(program, policy, policy, nullptr, o);
  for (size_t i = 0; i < policy.size(); ++i) EXPECT_DOUBLE_EQ(ph.root[i], policy[i]);
}

TEST(ProgressiveHedging, KappaScheduleIsThePapers) {
  PhOptions o;
  EXPECT_DOUBLE_EQ(kappa_at(o, 0), 0.25);
  EXPECT_DOUBLE_EQ(kappa_at(o, 1), 1.0 / 9);
  EXPECT_DOUBLE_EQ(kappa_at(o, 19), 1.0 / 441);
  EXPECT_DOUBLE_EQ(kappa_at(o, 20), 0.0);
  o.kappa = KappaSchedule::WarmStart;
  EXPECT_DOUBLE_EQ(kappa_at(o, 0), 1.0);
  EXPECT_DOUBLE_EQ(kappa_at(o, 1), 0.0);
}

TEST(ProgressiveHedging, NeedsThePolicyWhenKappaIsPositive) {
  RecourseProgram program(4, 2, 1);
  PhOptions o;  // inverse_square
  EXPECT_THROW(progressive_hedging(program, {}, {}, nullptr, o), Error);
}

PortfolioOptions small_portfolio(bool liquidity) {
  PortfolioOptions o;
  o.synthetic_assets = 4;
  o.synthetic_days = 400;
  o.episode_days = 10;
  o.history = 10;
  o.fit_days = 30;
  o.liquidity = liquidity;
  o.demand_draws = 3;
  return o;
}

TEST(PortfolioProgramSlow, PlainPhMatchesTheExtensiveFormOnThePortfolio) {
  for (bool liquidity : {false, true}) {
    auto env = make_portfolio(small_portfolio(liquidity), Split::Test);
    env->reset(3, 0);
    // Move a few days in, so that the drifted weights are not all cash.
    for (int k = 0; k < 3; ++k) env->step({0.2, 0.2, 0.2, 0.2, 0.2});
    ScenarioOptions tree;
    tree.scenarios = 10;
    tree.horizon = 2;
    auto program = env->stochastic_program(tree, 11);
    for (double alpha : {0.0, 0.95}) {
      const auto ef = extensive_form(*program, alpha);
      PhOptions o = plain_ph();
      o.cvar_alpha = alpha;
      if (alpha > 0) o.scenarios_per_bundle = 5;
      const PhResult ph = progressive_hedging(*program, {}, {}, nullptr, o);
      if (alpha == 0) {
        EXPECT_TRUE(ph.converged) << "liquidity " << liquidity;
      }
      EXPECT_LT(ph.residual, 1e-3) << "liquidity " << liquidity << " alpha " << alpha;
      const double at = loss_at_root(*program, ph.root, alpha);
      EXPECT_NEAR(at, ef.objective, 1e-4 * std::max(1.0, std::fabs(ef.objective)))
          << "liquidity " << liquidity << " alpha " << alpha;
      // The executed allocation meets the state's constraints.
      auto x = project(env->constraints(), program->action_from_root(ph.root));
      EXPECT_TRUE(check_feasible(env->constraints(), x).feasible);
    }
  }
}

TEST(PortfolioProgram, RootRoundTripsAnAllocation) {
  auto env = make_portfolio(small_portfolio(false), Split::Test);
  env->reset(1, 0);
  env->step({0.1, 0.4, 0.1, 0.3, 0.1});
  ScenarioOptions tree;
  tree.scenarios = 3;
  auto program = env->stochastic_program(tree, 2);
  const std::vector<double> x = {0.3, 0.1, 0.2, 0.25, 0.15};
  const auto back = program->action_from_root(program->root_from_action(x));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back[i], x[i], 1e-14);
}

}  // namespace
}  // namespace loom::rl
