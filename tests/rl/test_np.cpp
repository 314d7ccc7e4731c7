// NP and its baselines run end to end on both environments: every executed
// action is feasible, a seed fixes the trajectory, and scenario subproblems
// split over two c10d ranks give one process's answer bit for bit.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/dist/communicator.h"
#include "loom/rl/bikes.h"
#include "loom/rl/evaluate.h"
#include "loom/rl/portfolio.h"
#include "loom/rl/progressive_hedging.h"
#include "loom_cli_run.h"
#include "ph_engine.h"
#include "temp_dir.h"

namespace loom::rl {
namespace {

PortfolioOptions liquid_portfolio() {
  PortfolioOptions o;
  o.synthetic_assets = 3;
  o.synthetic_days = 300;
  o.episode_days = 6;
  o.history = 6;
  o.fit_days = 30;
  o.liquidity = true;
  o.demand_draws = 2;
  o.test_windows = 2;
  return o;
}

MethodContext small_context(Policy* policy) {
  MethodContext ctx;
  ctx.policy = policy;
  ctx.tree.scenarios = 6;
  ctx.tree.horizon = 2;
  ctx.ph.scenarios_per_bundle = 3;
  ctx.ph.max_iterations = 60;
  return ctx;
}

bool all_feasible(const MethodRun& run) {
  for (const auto& e : run.episodes)
    for (bool f : e.feasible)
      if (!f) return false;
  return true;
}

TEST(NpSlow, EveryExecutedActionOfNpAndTheProgramsIsFeasibleUnderLiquidity) {
  auto env = make_portfolio(liquid_portfolio(), Split::Test);
  // A guide that holds no cash: it misses the floor on every step.
  class AllStocks : public Policy {
   public:
    std::vector<std::vector<double>> act_batch(const std::vector<Observation>& obs) override {
      return std::vector<std::vector<double>>(obs.size(), {0.0, 0.5, 0.3, 0.2});
    }
  } all_stocks;
  MethodContext ctx = small_context(&all_stocks);
  // A fixed ν keeps this test fast; feasibility does not depend on ν (the
  // adaptive ν on this guide: NpSlow.AdaptivePenaltyFinishesWhereClpsReducedGradientStalled).
  ctx.ph.nu_adaptive = false;
  const MethodRun guide = run_method(*env, "policy", ctx, 1);
  EXPECT_EQ(guide.metrics.violation_rate, 1.0);
  for (const char* m : {"np", "sp", "ef", "policy_h"}) {
    const MethodRun run = run_method(*env, m, ctx, 1);
    EXPECT_EQ(run.episodes.size(), 2u);
    EXPECT_TRUE(all_feasible(run)) << m;
    EXPECT_EQ(run.metrics.violation_rate, 0.0) << m;
    for (const auto& e : run.episodes)
      for (const auto& a : e.actions) {
        double sum = 0;
        for (double v : a) {
          sum += v;
          EXPECT_GE(v, -1e-12) << m;
        }
        EXPECT_NEAR(sum, 1.0, 1e-9) << m;
      }
  }
}

TEST(NpSlow, AdaptivePenaltyFinishesWhereClpsReducedGradientStalled) {
  // The adaptive ν on this tree once left Clp's reduced-gradient QP crawling
  // inside one iteration for minutes; the barrier with crossover ends.
  auto env = make_portfolio(liquid_portfolio(), Split::Test);
  auto ucrp = make_ucrp_policy(*env);
  MethodContext ctx = small_context(ucrp.get());
  const auto start = std::chrono::steady_clock::now();
  const MethodRun run = run_method(*env, "np", ctx, 1);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 60.0);
  EXPECT_TRUE(all_feasible(run));
}

TEST(Np, ExtensiveFormStaysFeasibleWhenDemandOutgrowsTheWealth) {
  // Demand of 0.3 a step: within a few steps some scenario owes more at its
  // leaf than it can hold, which made the extensive form infeasible before
  // the leaf floor got its shortfall column. The root's floor stays exact.
  PortfolioOptions o = liquid_portfolio();
  o.demand_mean = 0.3;
  o.demand_std = 0.05;
  auto env = make_portfolio(o, Split::Test);
  MethodContext ctx = small_context(nullptr);
  const MethodRun ef = run_method(*env, "ef", ctx, 3);
  EXPECT_TRUE(all_feasible(ef));
  EXPECT_EQ(ef.metrics.violation_rate, 0.0);
  // ... and PH with κ = 0 still reaches its optimum at such a state.
  env->reset(3, 0);
  env->step({0.4, 0.2, 0.2, 0.2});
  env->step({0.8, 0.1, 0.05, 0.05});
  ASSERT_GT(env->requirement(), 0.5);
  PhOptions ph;
  ph.kappa = KappaSchedule::Zero;
  ph.scenarios_per_bundle = 3;
  const DecisionBenchmark b = benchmark_decision(*env, nullptr, ctx.tree, ph, 11, nullptr);
  EXPECT_TRUE(b.ph_converged) << b.ph_residual;
  EXPECT_LT(std::fabs(b.relative_gap), 1e-4);
}

TEST(NpSlow, EveryNpActionMeetsTheStationBounds) {
  BikeOptions o;
  o.bike_data = "";
  o.stations = 10;
  o.fleet = 80;
  o.steps = 3;
  o.test_days = {"2012-10-09"};
  auto env = make_bikes(o, Split::Test);
  // A guide that piles bikes on the first station, past its docks.
  class Piling : public Policy {
   public:
    std::vector<std::vector<double>> act_batch(const std::vector<Observation>& obs) override {
      std::vector<double> a(10, 0.02);
      a[0] = 0.82;
      return std::vector<std::vector<double>>(obs.size(), a);
    }
  } piling;
  MethodContext ctx = small_context(&piling);
  ctx.ph.proximal = ProximalTerm::Linearized;  // as configs/np-bikes.yaml runs NP
  EXPECT_EQ(run_method(*env, "policy", ctx, 0).metrics.violation_rate, 1.0);
  const MethodRun np = run_method(*env, "np", ctx, 0);
  EXPECT_TRUE(all_feasible(np));
  EXPECT_EQ(np.metrics.steps, 3);
}

TEST(NpSlow, TheSameSeedGivesTheSameTrajectory) {
  auto env = make_portfolio(liquid_portfolio(), Split::Test);
  auto olmar = make_olmar_policy(*env, 3, 10);
  MethodContext ctx = small_context(olmar.get());
  const MethodRun a = run_method(*env, "np", ctx, 4), b = run_method(*env, "np", ctx, 4);
  const MethodRun c = run_method(*env, "np", ctx, 5);
  bool differs = false;
  for (size_t k = 0; k < a.episodes.size(); ++k) {
    EXPECT_EQ(a.episodes[k].actions, b.episodes[k].actions);
    EXPECT_EQ(a.episodes[k].rewards, b.episodes[k].rewards);
    differs = differs || a.episodes[k].rewards != c.episodes[k].rewards;
  }
  EXPECT_TRUE(differs) << "another seed draws other demand and scenarios";
}

TEST(Np, MetricsAreTheStatedFormulas) {
  EpisodeTrace e;
  e.rewards = {0.01, -0.02, 0.03, 0.0};
  e.costs = {0, 0.5, 0, 0};
  e.feasible = {true, false, true, true};
  e.decision_seconds = {1, 2, 3, 2};
  const Metrics m = summarize({e}, true);
  EXPECT_NEAR(m.cumulative_return, std::expm1(0.02), 1e-15);
  EXPECT_NEAR(m.violation_rate, 0.25, 1e-15);
  EXPECT_NEAR(m.mean_cost, 0.125, 1e-15);
  EXPECT_NEAR(m.decision_seconds, 2.0, 1e-15);
  const double mean = 0.005, sd = std::sqrt((0.005 * 0.005 + 0.025 * 0.025 + 0.025 * 0.025 + 0.005 * 0.005) / 3);
  EXPECT_NEAR(m.sharpe, mean / sd * std::sqrt(252.0), 1e-12);
  EXPECT_NEAR(m.cvar95, 0.02, 1e-15);  // the worst 5 % of four steps: the -0.02 day
  EXPECT_NEAR(summarize({e}, false).cumulative_return, 0.02, 1e-15);
}

TEST(Np, UnknownMethodsAndMissingPoliciesAreClearErrors) {
  auto env = make_portfolio(liquid_portfolio(), Split::Test);
  MethodContext ctx = small_context(nullptr);
  try {
    run_method(*env, "cpo", ctx, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("valid: policy, policy_h, np"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run_method(*env, "np", ctx, 0), Error);
  auto bikes_options = BikeOptions{};
  bikes_options.bike_data = "";
  bikes_options.stations = 4;
  bikes_options.fleet = 20;
  auto bikes = make_bikes(bikes_options, Split::Test);
  try {
    run_method(*bikes, "olmar", ctx, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("online-portfolio"), std::string::npos) << e.what();
  }
}

TEST(Np, TwoRanksGiveOneProcesssAnswerBitForBit) {
  auto env = make_portfolio(liquid_portfolio(), Split::Test);
  env->reset(2, 0);
  env->step({0.4, 0.2, 0.2, 0.2});
  auto ucrp = make_ucrp_policy(*env);
  ScenarioOptions tree;
  tree.scenarios = 8;
  PhOptions o;
  o.scenarios_per_bundle = 2;
  o.max_iterations = 40;
  const PhResult one = decide_progressive_hedging(*env, ucrp.get(), tree, o, 9);
  const int port = free_local_port();
  std::vector<PhResult> ranks(2);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      try {
        DistOptions d;
        d.rank = r;
        d.world_size = 2;
        d.master_port = port;
        d.timeout_s = 30;
        auto comm = Communicator::create(d);
        auto copy = make_portfolio(liquid_portfolio(), Split::Test);
        copy->set_state(env->state());
        auto policy = make_ucrp_policy(*copy);
        ranks[static_cast<size_t>(r)] = decide_progressive_hedging(*copy, policy.get(), tree, o, 9, comm.get());
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(errors[static_cast<size_t>(r)], "");
    const PhResult& p = ranks[static_cast<size_t>(r)];
    EXPECT_EQ(p.action, one.action) << "rank " << r;
    EXPECT_EQ(p.iterations, one.iterations);
    EXPECT_EQ(p.residuals, one.residuals);
    EXPECT_LT(p.solves, one.solves) << "each rank solves its share only";
  }
}

TEST(NpCliSlow, BadPricesAndInfeasibleStatesAreClearErrors) {
  const std::string dir = testing::fresh_temp_dir("np_cli");
  std::filesystem::create_directories(dir);
  struct Case {
    const char* name;
    const char* csv;  // "" : synthetic prices
    const char* args;
    std::vector<std::string> expected;  // fragments of the error
  };
  const std::vector<Case> cases = {
      {"gap", "date,A\n2020-01-02,1\n2020-03-02,2\n", "", {"gap.csv:3", "missing dates between 2020-01-02"}},
      {"non_positive", "date,A,B\n2020-01-02,1,2\n2020-01-03,1,0\n", "", {"non_positive.csv:3", "'B'", "not positive"}},
      {"ragged", "date,A,B\n2020-01-02,1,2\n2020-01-03,1\n", "", {"ragged.csv:3", "ragged row"}},
      {"unknown_column", "date,A,B\n2020-01-02,1,2\n2020-01-03,1,2\n", "--assets A,C", {"unknown asset column 'C'"}},
      // Seed 1 draws a first demand of 1.52 x the wealth: no allocation keeps that much cash.
      {"infeasible",
       "",
       "--synthetic-assets 3 --synthetic-days 300 --episode-days 4 --history 6 --fit-days 30 --liquidity true "
       "--demand-mean 1 --demand-std 0.3 --seed 1 --scenarios 2",
       {"infeasible constraint set", "cash must lie in"}},
  };
  for (const auto& c : cases) {
    std::string args = "evaluate --env portfolio --methods ef ";
    if (*c.csv) {
      const std::string path = dir + "/" + c.name + ".csv";
      write_file_atomic(path, c.csv);
      args += "--prices " + path + " ";
    }
    const testing::CliRun r = testing::run_loom("np " + args + c.args, dir + "/" + c.name + ".log");
    EXPECT_NE(r.exit_code, 0) << c.name << ": " << r.output;
    EXPECT_LT(r.exit_code, 128) << c.name << " crashed: " << r.output;
    for (const auto& fragment : c.expected)
      EXPECT_NE(r.output.find(fragment), std::string::npos)
          << c.name << ": '" << r.output << "' lacks '" << fragment << "'";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loom::rl
