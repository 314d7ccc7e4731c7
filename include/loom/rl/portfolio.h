// The portfolio environment (PAPERS.md §6): N assets plus cash, daily
// prices, the action an allocation summing to one, transaction cost 0.0025
// on every traded asset (Jiang et al. 2017: the wealth shrinks by the factor
// μ solving μ = 1 - c Σ_i |μ x_i - w'_i|), reward log(W_t / W_{t-1}).
// Optionally a liquidity constraint W_t · x_cash ≥ ξ_t: ξ is the cumulative
// cash demand, in units of the starting wealth, whose per-step draw
// N(0.025, 0.01) (truncated to [0, mean + 3 sd]) is announced at the start of
// the step.
//
// Prices come from a CSV (date + one column per asset: `loom data portfolio`
// writes SPISECTOR, SWX, LPP2005, SMALLCAP, MSFT or the Dow Jones of the
// 1980s in this form) with train/tune/test windows by date, or from a
// synthetic generator (geometric Brownian motion, or two-regime switching)
// for tests.
//
// The stochastic program: scenarios of the next `horizon` daily price
// relatives from a multivariate log-normal fitted to the last fit_days of
// observed prices (refitted at every decision, never past the decision day),
// each with demand_draws draws of the future cash demand.
//
//   loom::rl::PortfolioOptions o;  o.prices = "data/portfolio/spisector.csv";
//   auto env = loom::rl::make_portfolio(o, loom::rl::Split::Test);
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/rl/env.h"
#include "loom/rl/policy.h"

namespace loom::rl {

// Daily prices, oldest first.
struct PriceTable {
  std::vector<std::string> dates;  // yyyy-mm-dd, strictly increasing
  std::vector<std::string> assets;
  std::vector<std::vector<double>> prices;  // [day][asset], every price > 0
  int64_t days() const { return static_cast<int64_t>(dates.size()); }
  // Index of the first day on or after `date`; days() if none.
  int64_t first_on_or_after(const std::string& date) const;
};

// Reads `date,<asset>,...`. Every error names the file, line and column: a
// missing or malformed date, dates out of order, a gap of more than
// max_gap_days calendar days (0: no limit), a ragged row, a missing,
// non-numeric or non-positive price, a `columns` entry the header lacks.
PriceTable read_price_csv(const std::string& path, const std::vector<std::string>& columns = {},
                          int64_t max_gap_days = 0);
void write_price_csv(const std::string& path, const PriceTable& table);

enum class SyntheticPrices { Gbm, Regime };
// Daily prices for tests: correlated geometric Brownian motion, or a
// two-regime (calm/turbulent) Markov-switching version of it.
PriceTable synthetic_prices(SyntheticPrices kind, int64_t assets, int64_t days, uint64_t seed);

struct PortfolioOptions {
  std::string prices;               // CSV path; empty: synthetic prices
  std::vector<std::string> assets;  // CSV columns to trade; empty: all
  int64_t max_gap_days = 10;
  SyntheticPrices synthetic = SyntheticPrices::Regime;
  int64_t synthetic_assets = 4;
  int64_t synthetic_days = 1200;
  uint64_t synthetic_seed = 0;
  // Windows by date (inclusive); empty: the first 60 % train, the next 20 %
  // tune, the rest test.
  std::string train_start, train_end, tune_start, tune_end;
  std::vector<std::string> test_starts;  // test episodes' first days; empty: consecutive windows of the test part
  int64_t test_windows = 2;              // how many when test_starts is empty
  int64_t episode_days = 30;
  int64_t history = 20;  // days of log returns the policy sees
  double transaction_cost = 0.0025;
  bool liquidity = false;
  double demand_mean = 0.025, demand_std = 0.01;
  double demand_clip_sigmas = 3;  // draws truncated to [0, mean + this x sd] (our choice: a known worst case)
  double heuristic_sigmas = 3;    // DDPG-H keeps the expected demand plus this many sd in cash (the paper's 3)
  // Stochastic program
  int64_t fit_days = 60;      // log-normal fitted to this many most recent daily returns
  int64_t demand_draws = 10;  // demand draws per price scenario when liquidity is on
  double sp_transaction_cost = 0.0025;
  // Cost per unit of cash demand a scenario's later stage leaves unmet (our
  // choice, docs/np.md: complete recourse where the demand outgrows the wealth).
  double sp_shortfall_penalty = 10;
};
const ParamSchema<PortfolioOptions>& portfolio_options_schema();

class PortfolioEnv;
std::unique_ptr<PortfolioEnv> make_portfolio(const PortfolioOptions& options, Split split);

class PortfolioEnv : public Environment {
 public:
  PortfolioEnv(const PortfolioOptions& options, const PriceTable& table, Split split);
  std::string name() const override { return "portfolio"; }
  ObservationSpec observation_spec() const override;
  ActionSpec action_spec() const override;
  int64_t max_episode_steps() const override { return options_.episode_days; }
  int64_t episodes() const override;
  Observation reset(uint64_t seed, int64_t episode = -1) override;
  ConstraintSet constraints() const override;
  ConstraintSet heuristic_constraints() const override;
  StepResult step(const std::vector<double>& action) override;
  Observation observe() const override;
  nlohmann::json state() const override;
  void set_state(const nlohmann::json& state) override;
  std::unique_ptr<StochasticProgram> stochastic_program(const ScenarioOptions& options, uint64_t seed) const override;

  const PortfolioOptions& options() const { return options_; }
  const PriceTable& table() const { return table_; }
  int64_t assets() const { return static_cast<int64_t>(table_.assets.size()); }
  int64_t day() const { return day_; }  // the decision day's index into the table
  int64_t episode_step() const { return step_; }
  double wealth() const { return wealth_; }
  const std::vector<double>& weights() const { return weights_; }  // drifted, cash first
  double requirement() const;  // ξ_t / W_t: the cash share the liquidity constraint asks for
  // The windows' first and last decision days, for the split.
  std::pair<int64_t, int64_t> window() const { return {first_day_, last_day_}; }
  std::vector<int64_t> test_episode_starts() const { return test_starts_; }
  // Log return of asset a from day d-1 to day d.
  double log_return(int64_t d, int64_t a) const;
  // Wealth factor of trading from drifted weights `from` to `to` (Jiang's μ).
  static double trade_factor(const std::vector<double>& from, const std::vector<double>& to, double cost);
  // Observation for given history of log returns (oldest first), weights,
  // requirement and steps left.
  Observation make_observation(const std::vector<std::vector<double>>& history, const std::vector<double>& weights,
                               double requirement, int64_t steps_left) const;

 private:
  PortfolioOptions options_;
  PriceTable table_;
  Split split_;
  int64_t first_day_ = 0, last_day_ = 0;  // decision days of the split: episodes start in [first, last - episode]
  std::vector<int64_t> test_starts_;
  // State
  int64_t day_ = 0, step_ = 0;
  double wealth_ = 1, demand_ = 0, announced_ = 0;  // ξ_t (cumulative, incl. this step's), this step's draw
  std::vector<double> weights_;
  uint64_t demand_seed_ = 0;
  int64_t demand_draws_made_ = 0;
  double draw_demand();
};

// Uniform constant rebalancing over the assets and cash.
std::unique_ptr<Policy> make_ucrp_policy(const PortfolioEnv& env);
// OLMAR (Li & Hoi 2012): moving-average mean reversion, window w, ε.
std::unique_ptr<Policy> make_olmar_policy(const PortfolioEnv& env, int64_t window = 5, double epsilon = 10);

}  // namespace loom::rl
