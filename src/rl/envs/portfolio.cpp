// The portfolio environment: windows by date, Jiang et al.'s transaction
// cost, the liquidity constraint, and its registration.
#include "loom/rl/portfolio.h"

#include <algorithm>
#include <cmath>

#include "../rl_util.h"
#include "envs.h"
#include "loom/core/error.h"

namespace loom::rl {

const ParamSchema<PortfolioOptions>& portfolio_options_schema() {
  static const ParamSchema<PortfolioOptions> schema = [] {
    using O = PortfolioOptions;
    ParamSchema<O> s;
    s.add("prices", &O::prices, "portfolio: price CSV (date,<asset>,...); empty = synthetic prices")
        .add("assets", &O::assets, "portfolio: CSV columns to trade, comma-separated; empty = all")
        .add("max_gap_days", &O::max_gap_days, "portfolio: longest allowed gap between CSV dates (0 = any)", {0, 1e6})
        .add_enum<SyntheticPrices>("synthetic", &O::synthetic,
                                   {{SyntheticPrices::Gbm, "gbm"}, {SyntheticPrices::Regime, "regime"}},
                                   "portfolio: synthetic price model when no CSV is given")
        .add("synthetic_assets", &O::synthetic_assets, "portfolio: synthetic assets", {1, 1000})
        .add("synthetic_days", &O::synthetic_days, "portfolio: synthetic days", {10, 1e7})
        .add("synthetic_seed", &O::synthetic_seed, "portfolio: synthetic price seed")
        .add("train_start", &O::train_start, "portfolio: first training day (yyyy-mm-dd; empty = automatic split)")
        .add("train_end", &O::train_end, "portfolio: last training day")
        .add("tune_start", &O::tune_start, "portfolio: first tuning day")
        .add("tune_end", &O::tune_end, "portfolio: last tuning day")
        .add("test_starts", &O::test_starts, "portfolio: first days of the test windows, comma-separated")
        .add("test_windows", &O::test_windows, "portfolio: test windows when test_starts is empty", {1, 1000})
        .add("episode_days", &O::episode_days, "portfolio: decision days per episode (test window length)", {1, 1e5})
        .add("history", &O::history, "portfolio: days of log returns in the observation", {1, 1000})
        .add("transaction_cost", &O::transaction_cost, "portfolio: cost per unit traded", {0, 0.5})
        .add("liquidity", &O::liquidity, "portfolio: require W_t x_cash >= ξ_t (cumulative cash demand)")
        .add("demand_mean", &O::demand_mean, "portfolio: mean per-step cash demand (share of starting wealth)", {0, 1})
        .add("demand_std", &O::demand_std, "portfolio: sd of the per-step cash demand", {0, 1})
        .add("demand_clip_sigmas", &O::demand_clip_sigmas,
             "portfolio: demand draws truncated to [0, mean + this x sd] (our choice: a known worst case)", {0, 100})
        .add("heuristic_sigmas", &O::heuristic_sigmas, "portfolio: DDPG-H keeps mean + this x sd of the demand in cash",
             {0, 100})
        .add("fit_days", &O::fit_days, "portfolio: daily returns the scenario log-normal is fitted to", {2, 1e5})
        .add("demand_draws", &O::demand_draws, "portfolio: demand draws per price scenario (liquidity on)", {1, 1000})
        .add("sp_transaction_cost", &O::sp_transaction_cost,
             "portfolio: the stochastic program's cost per unit bought or sold", {0, 0.5})
        .add("sp_shortfall_penalty", &O::sp_shortfall_penalty,
             "portfolio: the stochastic program's cost per unit of cash demand a later stage leaves unmet "
             "(our choice: complete recourse)",
             {0, 1e6});
    return s;
  }();
  return schema;
}

namespace {

int64_t last_on_or_before(const PriceTable& t, const std::string& date) {
  return std::upper_bound(t.dates.begin(), t.dates.end(), date) - t.dates.begin() - 1;
}

void check_date_key(const std::string& value, const char* key) {
  if (!value.empty()) check_iso_date(value, std::string("portfolio: ") + key);
}

}  // namespace

std::unique_ptr<PortfolioEnv> make_portfolio(const PortfolioOptions& o, Split split) {
  PriceTable table = o.prices.empty()
                         ? synthetic_prices(o.synthetic, o.synthetic_assets, o.synthetic_days, o.synthetic_seed)
                         : read_price_csv(o.prices, o.assets, o.max_gap_days);
  return std::make_unique<PortfolioEnv>(o, table, split);
}

PortfolioEnv::PortfolioEnv(const PortfolioOptions& options, const PriceTable& table, Split split)
    : options_(options), table_(table), split_(split) {
  const int64_t days = table_.days();
  const int64_t e = options_.episode_days, h = options_.history;
  for (const auto& [v, k] : std::vector<std::pair<std::string, const char*>>{{options_.train_start, "train_start"},
                                                                             {options_.train_end, "train_end"},
                                                                             {options_.tune_start, "tune_start"},
                                                                             {options_.tune_end, "tune_end"}})
    check_date_key(v, k);
  for (const auto& s : options_.test_starts) check_date_key(s, "test_starts");
  const bool by_date = !options_.train_start.empty() || !options_.train_end.empty();
  int64_t train_lo, train_hi, tune_lo, tune_hi;
  if (by_date) {
    if (options_.train_start.empty() || options_.train_end.empty() || options_.tune_start.empty() ||
        options_.tune_end.empty() || options_.test_starts.empty())
      throw Error("portfolio: windows by date need train_start, train_end, tune_start, tune_end and test_starts");
    train_lo = table_.first_on_or_after(options_.train_start);
    train_hi = last_on_or_before(table_, options_.train_end);
    tune_lo = table_.first_on_or_after(options_.tune_start);
    tune_hi = last_on_or_before(table_, options_.tune_end);
  } else {
    train_lo = 0;
    train_hi = days * 6 / 10 - 1;
    tune_lo = train_hi + 1;
    tune_hi = days * 8 / 10 - 1;
  }
  if (train_hi - std::max(train_lo, h) < e)
    throw Error("portfolio: the training window (" +
                table_.dates[static_cast<size_t>(std::clamp<int64_t>(train_lo, 0, days - 1))] +
                " on) holds fewer than history + episode_days = " + std::to_string(h + e) + " days");
  // Test windows: explicit starts, or consecutive windows after the tuning part.
  if (by_date) {
    for (const auto& s : options_.test_starts) {
      const int64_t t0 = table_.first_on_or_after(s);
      if (t0 + e > days - 1)
        throw Error("portfolio: test_starts: the window from " + s + " needs " + std::to_string(e + 1) +
                    " days of prices, the data ends on " + table_.dates.back());
      if (t0 <= train_hi)
        throw Error("portfolio: test_starts: the window from " + s + " overlaps the training window (it ends on " +
                    table_.dates[static_cast<size_t>(train_hi)] + ")");
      if (t0 < h) throw Error("portfolio: test_starts: " + s + " has fewer than `history` days before it");
      test_starts_.push_back(t0);
    }
  } else {
    for (int64_t k = 0; k < options_.test_windows; ++k) {
      const int64_t t0 = tune_hi + 1 + k * e;
      if (t0 + e > days - 1)
        throw Error("portfolio: " + std::to_string(options_.test_windows) + " test windows of " + std::to_string(e) +
                    " days do not fit after the tuning part (" + std::to_string(days) + " days of prices)");
      test_starts_.push_back(t0);
    }
  }
  switch (split_) {
    case Split::Train: first_day_ = std::max(train_lo, h), last_day_ = train_hi; break;
    case Split::Tune: first_day_ = std::max(tune_lo, h), last_day_ = tune_hi; break;
    case Split::Test:
      first_day_ = *std::min_element(test_starts_.begin(), test_starts_.end());
      last_day_ = *std::max_element(test_starts_.begin(), test_starts_.end()) + e;
      break;
  }
  if (split_ == Split::Tune && last_day_ - first_day_ < e)
    throw Error("portfolio: the tuning window holds fewer than episode_days = " + std::to_string(e) + " days");
  weights_.assign(static_cast<size_t>(assets() + 1), 0.0);
  weights_[0] = 1;
}

ObservationSpec PortfolioEnv::observation_spec() const { return {options_.history, assets(), assets() + 3}; }

ActionSpec PortfolioEnv::action_spec() const {
  ActionSpec a;
  a.size = assets() + 1;
  a.kind = ActionKind::Simplex;
  a.names.push_back("cash");
  for (const auto& n : table_.assets) a.names.push_back(n);
  return a;
}

int64_t PortfolioEnv::episodes() const {
  if (split_ == Split::Test) return static_cast<int64_t>(test_starts_.size());
  if (split_ == Split::Tune) return std::max<int64_t>(1, (last_day_ - first_day_) / options_.episode_days);
  return 1;
}

double PortfolioEnv::log_return(int64_t d, int64_t a) const {
  return std::log(table_.prices[static_cast<size_t>(d)][static_cast<size_t>(a)] /
                  table_.prices[static_cast<size_t>(d - 1)][static_cast<size_t>(a)]);
}

double PortfolioEnv::trade_factor(const std::vector<double>& from, const std::vector<double>& to, double cost) {
  // f(μ) = μ + c Σ_{i>=1} |μ to_i - from_i| - 1 rises with μ (slope >= 1 - c):
  // bisect on [0, 1] to the last bit.
  double lo = 0, hi = 1;
  for (int it = 0; it < 80; ++it) {
    const double mid = 0.5 * (lo + hi);
    double f = mid - 1;
    for (size_t i = 1; i < to.size(); ++i) f += cost * std::fabs(mid * to[i] - from[i]);
    (f < 0 ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double PortfolioEnv::draw_demand() {
  auto rng = seeded_stream(demand_seed_, static_cast<uint64_t>(demand_draws_made_++));
  std::normal_distribution<double> normal(options_.demand_mean, options_.demand_std);
  const double cap = options_.demand_mean + options_.demand_clip_sigmas * options_.demand_std;
  for (int tries = 0; tries < 1000; ++tries) {
    const double d = normal(rng);
    if (d >= 0 && d <= cap) return d;
  }
  return std::clamp(options_.demand_mean, 0.0, cap);
}

Observation PortfolioEnv::reset(uint64_t seed, int64_t episode) {
  const int64_t e = options_.episode_days;
  if (split_ == Split::Train) {
    auto rng = seeded_stream(seed, 1);
    std::uniform_int_distribution<int64_t> start(first_day_, last_day_ - e);
    day_ = start(rng);
  } else {
    const int64_t n = episodes();
    const int64_t k = episode >= 0 ? episode : static_cast<int64_t>(seed % static_cast<uint64_t>(n));
    if (k >= n)
      throw Error("portfolio: episode " + std::to_string(k) + " of a " + split_name(split_) + " split with " +
                  std::to_string(n) + " episodes");
    day_ = split_ == Split::Test ? test_starts_[static_cast<size_t>(k)] : first_day_ + k * e;
  }
  step_ = 0;
  wealth_ = 1;
  weights_.assign(static_cast<size_t>(assets() + 1), 0.0);
  weights_[0] = 1;  // episodes start in cash
  demand_seed_ = seed * 7919 + 13;
  demand_draws_made_ = 0;
  demand_ = announced_ = 0;
  if (options_.liquidity) demand_ = announced_ = draw_demand();
  return observe();
}

double PortfolioEnv::requirement() const { return options_.liquidity ? demand_ / wealth_ : 0.0; }

ConstraintSet PortfolioEnv::constraints() const {
  ConstraintSet c = ConstraintSet::simplex(assets() + 1);
  c.names = action_spec().names;
  if (options_.liquidity) c.lower[0] = requirement();
  return c;
}

ConstraintSet PortfolioEnv::heuristic_constraints() const {
  ConstraintSet c = constraints();
  if (options_.liquidity) {
    // DDPG-H: the demand expected this step plus heuristic_sigmas sd, on top
    // of what is already owed, whatever this step's draw turned out to be.
    const double expected =
        demand_ - announced_ + options_.demand_mean + options_.heuristic_sigmas * options_.demand_std;
    c.lower[0] = std::min(1.0, std::max(c.lower[0], expected / wealth_));
  }
  return c;
}

Observation PortfolioEnv::make_observation(const std::vector<std::vector<double>>& history,
                                           const std::vector<double>& weights, double requirement,
                                           int64_t steps_left) const {
  Observation o;
  o.reserve(static_cast<size_t>(observation_spec().size()));
  // Log returns in percent, so that the networks see values near 1.
  for (const auto& row : history)
    for (double v : row) o.push_back(static_cast<float>(100 * v));
  for (double w : weights) o.push_back(static_cast<float>(w));
  o.push_back(static_cast<float>(requirement));
  o.push_back(static_cast<float>(steps_left) / static_cast<float>(options_.episode_days));
  return o;
}

Observation PortfolioEnv::observe() const {
  std::vector<std::vector<double>> history;
  for (int64_t d = day_ - options_.history + 1; d <= day_; ++d) {
    std::vector<double> row;
    for (int64_t a = 0; a < assets(); ++a) row.push_back(log_return(d, a));
    history.push_back(row);
  }
  return make_observation(history, weights_, requirement(), options_.episode_days - step_);
}

StepResult PortfolioEnv::step(const std::vector<double>& x) {
  if (step_ >= options_.episode_days) throw Error("portfolio: step after the episode ended; call reset");
  check_action_space(action_spec(), x, "portfolio " + table_.dates[static_cast<size_t>(day_)]);
  StepResult r;
  const ConstraintSet c = constraints();
  r.feasibility = check_feasible(c, x);
  if (options_.liquidity) r.cost = std::max(0.0, c.lower[0] - x[0]);
  const double mu = trade_factor(weights_, x, options_.transaction_cost);
  std::vector<double> holdings(x.size());
  double next = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double relative =
        i == 0 ? 1.0
               : table_.prices[static_cast<size_t>(day_ + 1)][i - 1] / table_.prices[static_cast<size_t>(day_)][i - 1];
    holdings[i] = wealth_ * mu * x[i] * relative;
    next += holdings[i];
  }
  double turnover = 0;
  for (size_t i = 1; i < x.size(); ++i) turnover += std::fabs(x[i] - weights_[i]);
  r.reward = std::log(next / wealth_);
  r.info["return"] = next / wealth_ - 1;
  r.info["turnover"] = turnover;
  r.info["cash"] = x[0];
  r.info["requirement"] = c.lower[0];
  for (size_t i = 0; i < x.size(); ++i) weights_[i] = holdings[i] / next;
  wealth_ = next;
  ++day_;
  ++step_;
  r.done = step_ >= options_.episode_days;
  if (options_.liquidity && !r.done) {
    announced_ = draw_demand();
    demand_ += announced_;
    if (demand_ >= wealth_ * (1 - 1e-9)) {
      r.done = true;  // the cumulative demand exceeds the wealth: no allocation can meet it
      r.info["insolvent"] = 1;
    }
  }
  r.info["wealth"] = wealth_;
  r.observation = observe();
  return r;
}

nlohmann::json PortfolioEnv::state() const {
  return {{"day", day_},
          {"step", step_},
          {"wealth", wealth_},
          {"weights", weights_},
          {"demand", demand_},
          {"announced", announced_},
          {"demand_seed", demand_seed_},
          {"demand_draws", demand_draws_made_}};
}

void PortfolioEnv::set_state(const nlohmann::json& s) {
  try {
    day_ = s.at("day").get<int64_t>();
    step_ = s.at("step").get<int64_t>();
    wealth_ = s.at("wealth").get<double>();
    weights_ = s.at("weights").get<std::vector<double>>();
    demand_ = s.at("demand").get<double>();
    announced_ = s.at("announced").get<double>();
    demand_seed_ = s.at("demand_seed").get<uint64_t>();
    demand_draws_made_ = s.at("demand_draws").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("portfolio state: ") + e.what());
  }
  if (static_cast<int64_t>(weights_.size()) != assets() + 1 || day_ < options_.history || day_ >= table_.days())
    throw Error("portfolio state: does not fit this price table");
}

void register_portfolio_environment(Registry<EnvironmentEntry>& r) {
  r.add("portfolio",
        {"N assets plus cash on daily prices (CSV or synthetic); optional liquidity constraint",
         portfolio_options_schema().specs(), [](const Params& p, Split split) -> std::unique_ptr<Environment> {
           return make_portfolio(portfolio_options_schema().read(p), split);
         }});
}

}  // namespace loom::rl
