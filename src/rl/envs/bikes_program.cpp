// The bike environment's stochastic program at a decision step. Per scenario
// and stage t (0 = now), in shares of the fleet:
//   x_t  where the fleet stands (Σ x_t = 1, x_{t,i} <= docks_i / fleet)
//   m_t  bikes taken from each station: m_t >= b_t - x_t, m_t >= 0
//   s_t  trips served: s_t <= x_t, s_t <= d_t (the scenario's departures)
//   b_0 = the current stock; b_{t+1} = x_t - s_t + Pᵀ s_t (trips arrive by the
//   step's mean destination shares P)
// with loss Σ_t g(L_t) + h(R_t), L_t = Σ (d_t - s_t), R_t = Σ m_t, where
// g(L) = L(1 + log(1 + L)) is convex (tangent cuts on a grid, an exact outer
// model at the grid points) and h(R) = R sin(πR) is convex on [0, 0.34] only:
// our LP uses its tangents there, which bound h from below up to 0.34 and
// from above beyond it (docs/np.md). Departures come from a multivariate
// normal fitted to fit_days training days of the same day type (demand
// simulated by the environment's model with those days' real totals),
// scaled by the decision day's forecast over their mean.
#include <algorithm>
#include <cmath>

#include "../rl_util.h"
#include "../stochastic_program.h"
#include "loom/core/error.h"
#include "loom/rl/bikes.h"
#include "loom/rl/progressive_hedging.h"

namespace loom::rl {
namespace {

double loss_unmet(double l) { return l * (1 + std::log1p(l)); }
double loss_unmet_slope(double l) { return 1 + std::log1p(l) + l / (1 + l); }
double loss_moved(double r) { return r * std::sin(M_PI * r); }
double loss_moved_slope(double r) { return std::sin(M_PI * r) + M_PI * r * std::cos(M_PI * r); }

const double kUnmetGrid[] = {0.0, 0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.25, 0.4, 0.7, 1.0};
const double kMovedGrid[] = {0.0, 0.02, 0.05, 0.08, 0.12, 0.16, 0.2, 0.25, 0.3, 0.34};

class BikeProgram : public StochasticProgram {
 public:
  BikeProgram(const BikeEnv& env, const ScenarioOptions& tree, uint64_t seed)
      : env_(env), n_(env.stations()), fleet_(static_cast<double>(env.options().fleet)) {
    const int64_t step = env.episode_step();
    horizon_ = std::min<int64_t>(tree.horizon, env.options().steps - step);
    if (horizon_ < 1) throw Error("bikes: no step left to plan");
    for (size_t i = 0; i < env.bikes().size(); ++i) stock_.push_back(static_cast<double>(env.bikes()[i]) / fleet_);
    for (size_t i = 0; i < env.docks().size(); ++i) upper_.push_back(static_cast<double>(env.docks()[i]) / fleet_);
    // The decision day's index in the data.
    int64_t today = 0;
    for (size_t k = 0; k < env.days().size(); ++k)
      if (env.days()[k].date == env.today().date) today = static_cast<int64_t>(k);
    const auto fit = env.fit_days_for(today);
    double fit_mean = 0;
    for (int64_t d : fit) fit_mean += env.days()[static_cast<size_t>(d)].count / static_cast<double>(fit.size());
    const double ratio = env.demand_model().forecast(env.today()) / fit_mean;
    auto rng = seeded_stream(seed, 303);
    std::vector<std::vector<double>> mean(static_cast<size_t>(horizon_));
    std::vector<std::vector<std::vector<double>>> lower(static_cast<size_t>(horizon_));
    for (int64_t t = 0; t < horizon_; ++t) {
      std::vector<std::vector<double>> rows;
      for (int64_t d : fit) {
        const auto dep = env.sample_departures(env.days()[static_cast<size_t>(d)], step + t, rng);
        rows.emplace_back(dep.begin(), dep.end());
      }
      std::vector<std::vector<double>> cov;
      mean_covariance(rows, &mean[static_cast<size_t>(t)], &cov);
      lower[static_cast<size_t>(t)] = cholesky(cov);
      if (t > 0) arrivals_.push_back(env.destinations(env.today(), step + t - 1));
    }
    for (int64_t s = 0; s < tree.scenarios; ++s) {
      std::vector<std::vector<double>> dep;
      for (int64_t t = 0; t < horizon_; ++t) {
        auto d = sample_normal(mean[static_cast<size_t>(t)], lower[static_cast<size_t>(t)], rng);
        for (double& v : d) v = std::max(0.0, ratio * v) / fleet_;
        dep.push_back(d);
      }
      departures_.push_back(dep);
    }
  }

  int64_t scenarios() const override { return static_cast<int64_t>(departures_.size()); }
  int64_t root_size() const override { return n_; }

  int64_t width() const { return 3 * n_ + 2; }
  int64_t x(int64_t t, int64_t i) const { return t * width() + i; }
  int64_t m(int64_t t, int64_t i) const { return t * width() + n_ + i; }
  int64_t s(int64_t t, int64_t i) const { return t * width() + 2 * n_ + i; }
  int64_t e_unmet(int64_t t) const { return t * width() + 3 * n_; }
  int64_t e_moved(int64_t t) const { return t * width() + 3 * n_ + 1; }

  LpModel scenario_model(int64_t k) const override {
    const auto& dep = departures_[static_cast<size_t>(k)];
    LpModel model;
    for (int64_t t = 0; t < horizon_; ++t) {
      for (int64_t i = 0; i < n_; ++i) add_col(model, 0.0, upper_[static_cast<size_t>(i)], 0.0);
      for (int64_t i = 0; i < n_; ++i) add_col(model, 0.0, kLpInfinity, 0.0);
      for (int64_t i = 0; i < n_; ++i) add_col(model, 0.0, dep[static_cast<size_t>(t)][static_cast<size_t>(i)], 0.0);
      add_col(model, 0.0, kLpInfinity, 1.0);  // g(L_t)'s epigraph
      add_col(model, 0.0, kLpInfinity, 1.0);  // h(R_t)'s epigraph
    }
    for (int64_t t = 0; t < horizon_; ++t) {
      std::vector<std::pair<int64_t, double>> all;
      for (int64_t i = 0; i < n_; ++i) all.emplace_back(x(t, i), 1.0);
      model.add_row(all, 1.0, 1.0);
      for (int64_t i = 0; i < n_; ++i) model.add_row({{s(t, i), 1.0}, {x(t, i), -1.0}}, -kLpInfinity, 0.0);
      // m_t + x_t >= b_t, with b_t the stock now or after the last step's trips.
      for (int64_t i = 0; i < n_; ++i) {
        std::vector<std::pair<int64_t, double>> row = {{m(t, i), 1.0}, {x(t, i), 1.0}};
        double rhs = 0;
        if (t == 0) {
          rhs = stock_[static_cast<size_t>(i)];
        } else {
          const auto& p = arrivals_[static_cast<size_t>(t - 1)];
          row.emplace_back(x(t - 1, i), -1.0);
          for (int64_t j = 0; j < n_; ++j) {
            double c = -p[static_cast<size_t>(j)][static_cast<size_t>(i)];  // arrivals at i from j
            if (j == i) c += 1.0;                                           // s_{t-1,i} left i
            if (c != 0) row.emplace_back(s(t - 1, j), c);
          }
        }
        model.add_row(row, rhs, kLpInfinity);
      }
      double demand = 0;
      for (double d : dep[static_cast<size_t>(t)]) demand += d;
      // e >= g(l) + g'(l) (L - l) with L = demand - Σ s.
      for (double l : kUnmetGrid) {
        std::vector<std::pair<int64_t, double>> row = {{e_unmet(t), 1.0}};
        const double slope = loss_unmet_slope(l);
        for (int64_t i = 0; i < n_; ++i) row.emplace_back(s(t, i), slope);
        model.add_row(row, loss_unmet(l) + slope * (demand - l), kLpInfinity);
      }
      for (double r : kMovedGrid) {
        std::vector<std::pair<int64_t, double>> row = {{e_moved(t), 1.0}};
        const double slope = loss_moved_slope(r);
        for (int64_t i = 0; i < n_; ++i) row.emplace_back(m(t, i), -slope);
        model.add_row(row, loss_moved(r) - slope * r, kLpInfinity);
      }
    }
    return model;
  }

  std::vector<double> root_from_action(const std::vector<double>& a) const override { return a; }
  std::vector<double> action_from_root(const std::vector<double>& r) const override { return r; }

  int64_t guided_stages() const override { return horizon_ - 1; }

  // The stock at `stage` along scenario k when the root executes
  // `root_action` and later stages keep their positions (policy guidance
  // needs only where the bikes end up).
  std::vector<double> stock_at(int64_t k, int64_t stage, const std::vector<double>& root_action) const {
    std::vector<double> b = root_action;
    for (int64_t t = 0; t < stage; ++t) {
      const auto& d = departures_[static_cast<size_t>(k)][static_cast<size_t>(t)];
      const auto& p = arrivals_[static_cast<size_t>(t)];
      std::vector<double> next = b;
      for (int64_t i = 0; i < n_; ++i) {
        const double served = std::min(b[static_cast<size_t>(i)], d[static_cast<size_t>(i)]);
        next[static_cast<size_t>(i)] -= served;
        for (int64_t j = 0; j < n_; ++j)
          next[static_cast<size_t>(j)] += served * p[static_cast<size_t>(i)][static_cast<size_t>(j)];
      }
      b = next;
    }
    return b;
  }

  Observation stage_observation(int64_t k, int64_t stage, const std::vector<double>& root_action) const override {
    const auto b = stock_at(k, stage, root_action);
    std::vector<double> fill(b.size());
    for (size_t i = 0; i < b.size(); ++i) fill[i] = b[i] / upper_[i];
    return env_.make_observation(fill, env_.episode_step() + stage);
  }

  std::vector<int64_t> stage_columns(int64_t, int64_t stage) const override {
    std::vector<int64_t> cols;
    for (int64_t i = 0; i < n_; ++i) cols.push_back(x(stage, i));
    return cols;
  }

  std::vector<double> stage_target(int64_t, int64_t, const std::vector<double>&,
                                   const std::vector<double>& stage_action) const override {
    return stage_action;
  }

 private:
  const BikeEnv& env_;
  int64_t n_, horizon_ = 1;
  double fleet_;
  std::vector<double> stock_, upper_;
  std::vector<std::vector<std::vector<double>>> departures_;  // [scenario][stage][station], fleet shares
  std::vector<std::vector<std::vector<double>>> arrivals_;    // [stage - 1][from][to]
};

}  // namespace

std::unique_ptr<StochasticProgram> BikeEnv::stochastic_program(const ScenarioOptions& tree, uint64_t seed) const {
  return std::make_unique<BikeProgram>(*this, tree, seed);
}

}  // namespace loom::rl
