// The portfolio domain: rl's portfolio environment (Jiang's transaction
// cost, log-wealth reward) on a subset of a universe of assets, its
// observation put in resource layout. Asset i's features are its last
// `history` daily log returns (percent) and its current weight; the global
// features are the cash weight, the liquidity requirement and the share of
// the episode left. Each task may train on its own window of the training
// part (task_window_days, placed by the task's window seed); tuning and test
// windows are the same for every task, and never overlap training.
#include <algorithm>
#include <random>

#include "domains.h"
#include "loom/core/error.h"

namespace loom::mtrl {
namespace {

rl::PriceTable columns_of(const rl::PriceTable& universe, const std::vector<int64_t>& columns) {
  rl::PriceTable t;
  t.dates = universe.dates;
  for (int64_t c : columns) t.assets.push_back(universe.assets[static_cast<size_t>(c)]);
  t.prices.resize(universe.prices.size());
  for (size_t d = 0; d < universe.prices.size(); ++d)
    for (int64_t c : columns) t.prices[d].push_back(universe.prices[d][static_cast<size_t>(c)]);
  return t;
}

class PortfolioTaskEnv : public rl::Environment {
 public:
  PortfolioTaskEnv(std::unique_ptr<rl::PortfolioEnv> env, std::string task)
      : env_(std::move(env)), task_(std::move(task)) {}
  std::string name() const override { return "portfolio:" + task_; }
  rl::ObservationSpec observation_spec() const override { return {env_->assets(), env_->options().history + 1, 3}; }
  rl::ActionSpec action_spec() const override { return env_->action_spec(); }
  int64_t max_episode_steps() const override { return env_->max_episode_steps(); }
  int64_t episodes() const override { return env_->episodes(); }
  rl::Observation reset(uint64_t seed, int64_t episode) override { return relayout(env_->reset(seed, episode)); }
  rl::ConstraintSet constraints() const override { return env_->constraints(); }
  rl::ConstraintSet heuristic_constraints() const override { return env_->heuristic_constraints(); }
  rl::StepResult step(const std::vector<double>& action) override {
    rl::StepResult r = env_->step(action);
    r.observation = relayout(r.observation);
    return r;
  }
  rl::Observation observe() const override { return relayout(env_->observe()); }
  nlohmann::json state() const override { return env_->state(); }
  void set_state(const nlohmann::json& state) override { env_->set_state(state); }

 private:
  // [L x N history, N + 1 weights, requirement, steps left] ->
  // [N x (L returns, weight), cash, requirement, steps left].
  rl::Observation relayout(const rl::Observation& o) const {
    const int64_t n = env_->assets(), l = env_->options().history;
    rl::Observation out;
    out.reserve(o.size());
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t d = 0; d < l; ++d) out.push_back(o[static_cast<size_t>(d * n + i)]);
      out.push_back(o[static_cast<size_t>(l * n + 1 + i)]);
    }
    out.push_back(o[static_cast<size_t>(l * n)]);
    out.push_back(o[static_cast<size_t>(l * n + n + 1)]);
    out.push_back(o[static_cast<size_t>(l * n + n + 2)]);
    return out;
  }

  std::unique_ptr<rl::PortfolioEnv> env_;
  std::string task_;
};

class PortfolioDomain : public TaskDomain {
 public:
  explicit PortfolioDomain(const PortfolioDomainOptions& options) : options_(options) {
    const auto& o = options_.env;
    universe_ = o.prices.empty()
                    ? rl::synthetic_prices(o.synthetic, o.synthetic_assets, o.synthetic_days, o.synthetic_seed)
                    : rl::read_price_csv(o.prices, o.assets, o.max_gap_days);
    // The splits' windows on the whole universe (this checks them once).
    rl::PortfolioEnv train(o, universe_, rl::Split::Train), tune(o, universe_, rl::Split::Tune),
        test(o, universe_, rl::Split::Test);
    train_window_ = train.window();
    tune_window_ = tune.window();
    test_starts_ = test.test_episode_starts();
    const int64_t span = train_window_.second - train_window_.first;
    if (options_.task_window_days > 0 && options_.task_window_days < o.episode_days + 1)
      throw Error("task_window_days: " + std::to_string(options_.task_window_days) +
                  " days hold no episode of episode_days = " + std::to_string(o.episode_days));
    if (options_.task_window_days > span)
      throw Error("task_window_days: " + std::to_string(options_.task_window_days) +
                  " days are more than the training part's " + std::to_string(span));
  }
  std::string name() const override { return "portfolio"; }
  std::vector<std::string> universe() const override { return universe_.assets; }
  int64_t resource_features() const override { return options_.env.history + 1; }
  int64_t global_features() const override { return 3; }

  std::unique_ptr<rl::Environment> make_environment(const Task& task, rl::Split split, bool) const override {
    rl::PortfolioOptions o = options_.env;
    if (split == rl::Split::Train && options_.task_window_days > 0) {
      // The task's own window: a seeded start inside the training part; the
      // other splits keep the shared windows, written as dates.
      std::mt19937_64 rng(task.window_seed);
      const int64_t w = options_.task_window_days;
      const int64_t lo = std::uniform_int_distribution<int64_t>(train_window_.first, train_window_.second - w)(rng);
      const auto& dates = universe_.dates;
      o.train_start = dates[static_cast<size_t>(lo)];
      o.train_end = dates[static_cast<size_t>(lo + w)];
      o.tune_start = dates[static_cast<size_t>(tune_window_.first)];
      o.tune_end = dates[static_cast<size_t>(tune_window_.second)];
      o.test_starts.clear();
      for (int64_t d : test_starts_) o.test_starts.push_back(dates[static_cast<size_t>(d)]);
    }
    auto env = std::make_unique<rl::PortfolioEnv>(o, columns_of(universe_, task.resources), split);
    return std::make_unique<PortfolioTaskEnv>(std::move(env), task.name);
  }

 private:
  PortfolioDomainOptions options_;
  rl::PriceTable universe_;
  std::pair<int64_t, int64_t> train_window_, tune_window_;
  std::vector<int64_t> test_starts_;
};

}  // namespace

void register_portfolio_domain(Registry<DomainEntry>& r) {
  r.add("portfolio", {"asset subsets of a universe of prices (CSV or synthetic), rl's portfolio environment",
                      [](const DomainOptions& o) -> std::unique_ptr<TaskDomain> {
                        return std::make_unique<PortfolioDomain>(o.portfolio);
                      }});
}

}  // namespace loom::mtrl
