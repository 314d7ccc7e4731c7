// The portfolio's stochastic program at a decision day (PAPERS.md §6):
// scenario price relatives from a multivariate log-normal fitted to the last
// fit_days of observed returns, each with demand_draws cash-demand paths.
//
// In units of the current wealth, per scenario and stage t = 0..H-1:
//   holdings h_t (cash first), buys b_t and sells s_t of each asset,
//   h_{t,i} = r_{t,i} h_{t-1,i} + b_{t,i} - s_{t,i}       (r_0 h_{-1} = w', the drifted weights)
//   h_{t,0} = h_{t-1,0} - (1 + c) Σ b_t + (1 - c) Σ s_t  (costs paid from cash)
// liquidity at the root, exactly as the environment states it:
//   h_{0,0} >= q Σ_i h_{0,i}   (the allocation's cash share >= ξ_t / W_t)
// and along the scenario h_{t,0} + u_t >= ξ_t^s (cash covers the demand; our
// linear stand-in for the share, since the leaf wealth is itself a variable),
// and the loss 1 - Σ_i r_{H,i} h_{H-1,i} + M Σ_t u_t: minus the return over the
// horizon, plus M = sp_shortfall_penalty per unit of demand a later stage
// leaves unmet. The shortfall u is our choice (docs/np.md): a scenario whose
// drawn demand outgrows its wealth, where the environment would end the
// episode, would otherwise make the extensive form infeasible. M is far above
// the floor's multiplier (a day's best relative), so u is 0 wherever the
// floor can be met. Stages past the episode's last decision carry no floor.
// The root columns are h_0; the executed allocation is h_0 / Σ h_0.
#include <algorithm>
#include <cmath>

#include "../rl_util.h"
#include "../stochastic_program.h"
#include "loom/core/error.h"
#include "loom/rl/portfolio.h"
#include "loom/rl/progressive_hedging.h"

namespace loom::rl {
namespace {

class PortfolioProgram : public StochasticProgram {
  struct Scenario {
    std::vector<std::vector<double>> log_relatives;  // [stage][asset]: the day after each stage's decision
    std::vector<double> demand;                      // [stage]: ξ owed, in current-wealth units
  };

 public:
  PortfolioProgram(const PortfolioEnv& env, const ScenarioOptions& tree, uint64_t seed)
      : env_(env), n_(env.assets()), m_(env.assets() + 1), horizon_(tree.horizon) {
    const auto& o = env.options();
    cost_ = o.sp_transaction_cost;
    weights_ = env.weights();
    requirement_ = env.requirement();
    demand_now_ = env.requirement();  // ξ_t / W_t: what is owed now, in current-wealth units
    // Fit the log-normal to returns observed up to the decision day only.
    const int64_t day = env.day();
    const int64_t first = std::max<int64_t>(1, day - o.fit_days + 1);
    std::vector<std::vector<double>> rows;
    for (int64_t d = first; d <= day; ++d) {
      std::vector<double> r;
      for (int64_t a = 0; a < n_; ++a) r.push_back(env.log_return(d, a));
      rows.push_back(r);
    }
    if (rows.size() < 2) throw Error("portfolio: fewer than two returns to fit the scenario model to");
    std::vector<double> mean;
    std::vector<std::vector<double>> covariance;
    mean_covariance(rows, &mean, &covariance);
    const auto lower = cholesky(covariance);
    const int64_t draws = o.liquidity && horizon_ > 1 ? o.demand_draws : 1;
    auto rng = seeded_stream(seed, 101);
    std::normal_distribution<double> demand(o.demand_mean, o.demand_std);
    const double cap = o.demand_mean + o.demand_clip_sigmas * o.demand_std;
    for (int64_t k = 0; k < tree.scenarios; ++k) {
      std::vector<std::vector<double>> log_relatives;
      for (int64_t t = 0; t < horizon_; ++t) log_relatives.push_back(sample_normal(mean, lower, rng));
      for (int64_t j = 0; j < draws; ++j) {
        Scenario s;
        s.log_relatives = log_relatives;
        double owed = demand_now_;
        s.demand.push_back(owed);
        for (int64_t t = 1; t < horizon_; ++t) {
          double d = 0;
          if (o.liquidity) {
            int tries = 0;
            do d = demand(rng);
            while ((d < 0 || d > cap) && ++tries < 1000);
            d = std::clamp(d, 0.0, cap);
          }
          owed += d / env.wealth();
          s.demand.push_back(owed);
        }
        scenarios_.push_back(std::move(s));
      }
    }
  }

  int64_t scenarios() const override { return static_cast<int64_t>(scenarios_.size()); }
  int64_t root_size() const override { return m_; }

  // Column indices.
  int64_t h(int64_t t, int64_t i) const { return t * stage_width() + i; }
  int64_t b(int64_t t, int64_t i) const { return t * stage_width() + m_ + i; }
  int64_t s(int64_t t, int64_t i) const { return t * stage_width() + m_ + n_ + i; }
  int64_t stage_width() const { return m_ + 2 * n_; }

  double relative(const Scenario& sc, int64_t t, int64_t i) const {  // asset i >= 1 (cash: 1)
    return i == 0 ? 1.0 : std::exp(sc.log_relatives[static_cast<size_t>(t)][static_cast<size_t>(i - 1)]);
  }

  LpModel scenario_model(int64_t k) const override {
    const Scenario& sc = scenarios_[static_cast<size_t>(k)];
    LpModel model;
    // The root's holdings come first, then each stage's trades and, after
    // the root, its holdings: stage t occupies [t*width, (t+1)*width).
    for (int64_t t = 0; t < horizon_; ++t)
      for (int64_t j = 0; j < stage_width(); ++j) add_col(model, 0.0, kLpInfinity, 0.0);
    const auto& o = env_.options();
    for (int64_t t = 0; t < horizon_; ++t) {
      for (int64_t i = 1; i <= n_; ++i) {
        std::vector<std::pair<int64_t, double>> row = {{h(t, i), 1.0}, {b(t, i - 1), -1.0}, {s(t, i - 1), 1.0}};
        double rhs = 0;
        if (t == 0)
          rhs = weights_[static_cast<size_t>(i)];
        else
          row.emplace_back(h(t - 1, i), -relative(sc, t - 1, i));
        model.add_row(row, rhs, rhs);
      }
      std::vector<std::pair<int64_t, double>> cash = {{h(t, 0), 1.0}};
      for (int64_t i = 0; i < n_; ++i) {
        cash.emplace_back(b(t, i), 1.0 + cost_);
        cash.emplace_back(s(t, i), -(1.0 - cost_));
      }
      double rhs = 0;
      if (t == 0)
        rhs = weights_[0];
      else
        cash.emplace_back(h(t - 1, 0), -1.0);
      model.add_row(cash, rhs, rhs);
      if (t == 0 && requirement_ > 0) {
        std::vector<std::pair<int64_t, double>> share = {{h(0, 0), 1.0 - requirement_}};
        for (int64_t i = 1; i <= n_; ++i) share.emplace_back(h(0, i), -requirement_);
        model.add_row(share, 0.0, kLpInfinity);
      }
      const bool in_episode = env_.episode_step() + t < o.episode_days;
      if (t > 0 && in_episode && sc.demand[static_cast<size_t>(t)] > 0) {
        const int64_t shortfall = add_col(model, 0.0, kLpInfinity, o.sp_shortfall_penalty);
        model.add_row({{h(t, 0), 1.0}, {shortfall, 1.0}}, sc.demand[static_cast<size_t>(t)], kLpInfinity);
      }
    }
    for (int64_t i = 0; i <= n_; ++i)
      model.objective[static_cast<size_t>(h(horizon_ - 1, i))] = -relative(sc, horizon_ - 1, i);
    return model;
  }

  double loss_constant(int64_t) const override { return 1.0; }

  std::vector<double> root_from_action(const std::vector<double>& x) const override {
    const double mu = PortfolioEnv::trade_factor(weights_, x, cost_);
    std::vector<double> root(x.size());
    for (size_t i = 0; i < x.size(); ++i) root[i] = mu * x[i];
    return root;
  }

  std::vector<double> action_from_root(const std::vector<double>& root) const override {
    double total = 0;
    for (double v : root) total += v;
    if (!(total > 0)) throw Error("portfolio: the stochastic program's root holds no wealth");
    std::vector<double> x(root.size());
    for (size_t i = 0; i < root.size(); ++i) x[i] = std::max(0.0, root[i]) / total;
    return x;
  }

  int64_t guided_stages() const override { return horizon_ - 1; }

  // Wealth and drifted weights along scenario k at `stage` when the root
  // executes `root_action` (costs of later stages ignored).
  void follow(int64_t k, int64_t stage, const std::vector<double>& root_action, double* wealth,
              std::vector<double>* weights) const {
    const Scenario& sc = scenarios_[static_cast<size_t>(k)];
    std::vector<double> hold = root_from_action(root_action);
    for (int64_t t = 0; t < stage; ++t)
      for (int64_t i = 0; i <= n_; ++i) hold[static_cast<size_t>(i)] *= relative(sc, t, i);
    *wealth = 0;
    for (double v : hold) *wealth += v;
    weights->resize(hold.size());
    for (size_t i = 0; i < hold.size(); ++i) (*weights)[i] = hold[i] / *wealth;
  }

  Observation stage_observation(int64_t k, int64_t stage, const std::vector<double>& root_action) const override {
    const Scenario& sc = scenarios_[static_cast<size_t>(k)];
    const auto& o = env_.options();
    std::vector<std::vector<double>> history;
    for (int64_t d = env_.day() - o.history + 1 + stage; d <= env_.day(); ++d) {
      std::vector<double> row;
      for (int64_t a = 0; a < n_; ++a) row.push_back(env_.log_return(d, a));
      history.push_back(row);
    }
    for (int64_t t = 0; t < stage; ++t) history.push_back(sc.log_relatives[static_cast<size_t>(t)]);
    double wealth;
    std::vector<double> weights;
    follow(k, stage, root_action, &wealth, &weights);
    const double requirement = o.liquidity ? sc.demand[static_cast<size_t>(stage)] / wealth : 0.0;
    const int64_t steps_left = std::max<int64_t>(0, o.episode_days - (env_.episode_step() + stage));
    return env_.make_observation(history, weights, requirement, steps_left);
  }

  std::vector<int64_t> stage_columns(int64_t, int64_t stage) const override {
    std::vector<int64_t> cols;
    for (int64_t i = 0; i <= n_; ++i) cols.push_back(h(stage, i));
    return cols;
  }

  std::vector<double> stage_target(int64_t k, int64_t stage, const std::vector<double>& root_action,
                                   const std::vector<double>& stage_action) const override {
    double wealth;
    std::vector<double> weights;
    follow(k, stage, root_action, &wealth, &weights);
    std::vector<double> target(stage_action.size());
    for (size_t i = 0; i < stage_action.size(); ++i) target[i] = wealth * stage_action[i];
    return target;
  }

 private:
  const PortfolioEnv& env_;
  int64_t n_, m_, horizon_;
  double cost_ = 0, requirement_ = 0, demand_now_ = 0;
  std::vector<double> weights_;
  std::vector<Scenario> scenarios_;
};

}  // namespace

std::unique_ptr<StochasticProgram> PortfolioEnv::stochastic_program(const ScenarioOptions& tree, uint64_t seed) const {
  return std::make_unique<PortfolioProgram>(*this, tree, seed);
}

}  // namespace loom::rl
