// The paper's multi-agent continuous bandit: a stateless task whose local
// rewards are quadratic costs around targets that differ per agent,
//   r^i(a) = −Σ_k q_ik (a_k − t^i_k)² + noise,
// so that the team optimum a*_k = Σ_i q_ik t^i_k / Σ_i q_ik is known to no
// agent alone. Targets and weights come from problem_seed; the paper gives
// no constants (docs/marl.md): t^i = t* + spread·u_i with t* ~ U[−0.5, 0.5],
// u_i ~ U[−1, 1], q_ik ~ U[0.5, 1.5], actions in [−1, 1].
#include <random>

#include "envs.h"
#include "loom/core/error.h"

namespace loom::rl::marl {
namespace {

class Bandit : public MultiAgentEnvironment {
 public:
  explicit Bandit(const EnvironmentOptions& o) : n_(o.agents), d_(o.action_dim), noise_(o.reward_noise) {
    const size_t dim = static_cast<size_t>(n_ * d_);
    std::mt19937_64 rng(o.problem_seed);
    std::uniform_real_distribution<double> centre(-0.5, 0.5), offset(-1, 1), weight(0.5, 1.5);
    std::vector<double> team(dim);
    for (auto& t : team) t = centre(rng);
    targets_.assign(static_cast<size_t>(n_), std::vector<double>(dim));
    weights_.assign(static_cast<size_t>(n_), std::vector<double>(dim));
    for (int i = 0; i < n_; ++i)
      for (size_t k = 0; k < dim; ++k) {
        targets_[static_cast<size_t>(i)][k] = team[k] + o.bandit_target_spread * offset(rng);
        weights_[static_cast<size_t>(i)][k] = weight(rng);
      }
    optimum_.assign(dim, 0.0);
    for (size_t k = 0; k < dim; ++k) {
      double num = 0, den = 0;
      for (int i = 0; i < n_; ++i) {
        num += weights_[static_cast<size_t>(i)][k] * targets_[static_cast<size_t>(i)][k];
        den += weights_[static_cast<size_t>(i)][k];
      }
      optimum_[k] = std::min(1.0, std::max(-1.0, num / den));
    }
  }
  int agents() const override { return n_; }
  int action_dim() const override { return d_; }
  int64_t state_size() const override { return 0; }
  std::vector<double> reset(uint64_t seed) override {
    rng_.seed(seed);
    return {};
  }
  MarlStep step(const std::vector<double>& joint_action) override {
    auto a = clip_joint_action(*this, joint_action);
    MarlStep out;
    std::normal_distribution<double> noise(0, 1);
    for (int i = 0; i < n_; ++i) out.rewards.push_back(local_reward(i, a) + noise_ * noise(rng_));
    return out;
  }
  double team_reward(const std::vector<double>&, const std::vector<double>& joint_action) const override {
    auto a = clip_joint_action(*this, joint_action);
    double total = 0;
    for (int i = 0; i < n_; ++i) total += local_reward(i, a);
    return total / n_;
  }
  std::optional<std::vector<double>> optimal_action(const std::vector<double>&) const override { return optimum_; }

 private:
  double local_reward(int i, const std::vector<double>& a) const {
    double r = 0;
    const auto& t = targets_[static_cast<size_t>(i)];
    const auto& q = weights_[static_cast<size_t>(i)];
    for (size_t k = 0; k < a.size(); ++k) r -= q[k] * (a[k] - t[k]) * (a[k] - t[k]);
    return r;
  }
  int n_, d_;
  double noise_;
  std::vector<std::vector<double>> targets_, weights_;
  std::vector<double> optimum_;
  std::mt19937_64 rng_;
};

}  // namespace

void register_bandit(Registry<MarlEnvironmentEntry>& r) {
  r.add("bandit", {"the paper's continuous bandit: quadratic local costs around per-agent targets",
                   [](const EnvironmentOptions& o) { return std::make_unique<Bandit>(o); }});
}

}  // namespace loom::rl::marl
