// Networked resource allocation with a shared budget. The state is each
// agent's demand d_i, an AR(1) process around a mean m_i (from
// problem_seed): d' = m + 0.8 (d − m) + 0.1 ε, clipped to [0, 1]. Agent i
// allocates x_i ∈ [0, 1] and earns
//   r^i = −(x_i − d_i)² − η Σ_{j ∈ N(i)} (x_i − x_j)² − λ (Σ_j x_j − B)² + noise,
// N(i) its two neighbours on the task ring (not the communication graph),
// B = budget · Σ_i m_i: the budget is to be spent, neither more nor less
// (resource_overspend_only: only spending over it costs, (·)₊², a kink that a
// critic quadratic in the action cannot represent; docs/marl.md). The paper
// has no such task; these constants are ours
// (docs/marl.md). The optimum for a state is the concave program's
// solution, by projected gradient ascent to 1e-10.
#include <cmath>
#include <random>

#include "envs.h"
#include "loom/core/error.h"

namespace loom::rl::marl {
namespace {

class ResourceAllocation : public MultiAgentEnvironment {
 public:
  explicit ResourceAllocation(const EnvironmentOptions& o)
      : n_(o.agents),
        noise_(o.reward_noise),
        coupling_(o.resource_coupling),
        penalty_(o.resource_penalty),
        overspend_only_(o.resource_overspend_only),
        mean_(static_cast<size_t>(o.agents)) {
    std::mt19937_64 rng(o.problem_seed);
    std::uniform_real_distribution<double> level(0.3, 0.7);
    double total = 0;
    for (auto& m : mean_) total += (m = level(rng));
    budget_ = o.resource_budget * total;
  }
  int agents() const override { return n_; }
  int action_dim() const override { return 1; }
  double action_low() const override { return 0; }
  int64_t state_size() const override { return n_; }
  std::vector<double> reset(uint64_t seed) override {
    rng_.seed(seed);
    // A draw near the stationary distribution: 20 steps of the chain from the mean.
    demand_ = mean_;
    for (int k = 0; k < 20; ++k) advance();
    return demand_;
  }
  MarlStep step(const std::vector<double>& joint_action) override {
    auto x = clip_joint_action(*this, joint_action);
    MarlStep out;
    std::normal_distribution<double> noise(0, 1);
    for (int i = 0; i < n_; ++i) out.rewards.push_back(local_reward(i, demand_, x) + noise_ * noise(rng_));
    advance();
    out.state = demand_;
    return out;
  }
  double team_reward(const std::vector<double>& s, const std::vector<double>& joint_action) const override {
    check_state(s);
    auto x = clip_joint_action(*this, joint_action);
    double total = 0;
    for (int i = 0; i < n_; ++i) total += local_reward(i, s, x);
    return total / n_;
  }
  std::optional<std::vector<double>> optimal_action(const std::vector<double>& s) const override {
    check_state(s);
    std::vector<double> x(s);
    const double lipschitz = 2 + 8 * coupling_ + 2.0 * n_ * n_ * penalty_;
    for (int it = 0; it < 20000; ++it) {
      double over = -budget_;
      for (double v : x) over += v;
      if (overspend_only_) over = std::max(0.0, over);
      double moved = 0;
      std::vector<double> next(x);
      for (int i = 0; i < n_; ++i) {
        double g = -2 * (x[idx(i)] - s[idx(i)]) - 2.0 * n_ * penalty_ * over;
        for (int j : {(i + 1) % n_, (i + n_ - 1) % n_})
          if (j != i) g -= 4 * coupling_ * (x[idx(i)] - x[idx(j)]) * (n_ == 2 ? 0.5 : 1.0);
        next[idx(i)] = std::min(1.0, std::max(0.0, x[idx(i)] + g / lipschitz));
        moved = std::max(moved, std::fabs(next[idx(i)] - x[idx(i)]));
      }
      x.swap(next);
      if (moved < 1e-10) break;
    }
    return x;
  }

 private:
  static size_t idx(int i) { return static_cast<size_t>(i); }
  void check_state(const std::vector<double>& s) const {
    if (static_cast<int>(s.size()) != n_)
      throw Error("resource: state has " + std::to_string(s.size()) + " demands; expected " + std::to_string(n_));
  }
  void advance() {
    std::normal_distribution<double> shock(0, 1);
    for (size_t i = 0; i < demand_.size(); ++i)
      demand_[i] = std::min(1.0, std::max(0.0, mean_[i] + 0.8 * (demand_[i] - mean_[i]) + 0.1 * shock(rng_)));
  }
  // Neighbours on the task ring; with two agents the ring is one link (each
  // pair counted once per agent, as for larger rings).
  double local_reward(int i, const std::vector<double>& d, const std::vector<double>& x) const {
    double r = -(x[idx(i)] - d[idx(i)]) * (x[idx(i)] - d[idx(i)]);
    const int left = (i + n_ - 1) % n_, right = (i + 1) % n_;
    r -= coupling_ * (x[idx(i)] - x[idx(right)]) * (x[idx(i)] - x[idx(right)]);
    if (left != right) r -= coupling_ * (x[idx(i)] - x[idx(left)]) * (x[idx(i)] - x[idx(left)]);
    double total = 0;
    for (double v : x) total += v;
    const double over = overspend_only_ ? std::max(0.0, total - budget_) : total - budget_;
    return r - penalty_ * over * over;
  }
  int n_;
  double noise_, coupling_, penalty_;
  bool overspend_only_;
  double budget_ = 0;
  std::vector<double> mean_, demand_;
  std::mt19937_64 rng_;
};

}  // namespace

void register_resource_allocation(Registry<MarlEnvironmentEntry>& r) {
  r.add("resource", {"networked resource allocation: demands, neighbour coupling, a shared budget",
                     [](const EnvironmentOptions& o) { return std::make_unique<ResourceAllocation>(o); }});
}

}  // namespace loom::rl::marl
