// Linear critics Q̂(s, a) = φ(s, a)ᵀω over the global state and the joint
// action, and the two updates of the paper: average-reward TD (on-policy)
// and reward regression (off-policy).
//
// Features (ψ̃ = [1, s]):
//   generic:    φ = [ψ̃, ψ̃ ⊗ a, a_k a_l (k ≤ l), s_k s_l (k ≤ l)]: quadratic
//               in the action with state-dependent slopes, and in the state.
//   compatible: φ = [(a − μ(s)) ⊗ ψ̃, ψ̃]: Silver et al.'s compatible form for
//               actors linear in ψ̃ (μ^i(s) = Θ_i ψ̃), for which the critic's
//               action gradient is an unbiased policy-gradient direction. It
//               needs every agent's μ^j(s) (the paper's off-policy actor
//               needs them too) and a linear actor: a neural actor's
//               compatible features are its parameter Jacobian, which agents
//               do not share (docs/marl.md).
//
//   CriticFeatures phi(FeatureKind::Generic, state_size, agents, action_dim);
//   auto f = phi.features(s, a, mu);
//   AverageRewardTd td(phi.size());
//   td.update(f, reward, f_next, beta);             // ω̃ in td.weights
//   auto g = phi.action_gradient(s, a, mu, td.weights, agent);   // ∇_{a^i} Q̂
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loom::rl::marl {

enum class FeatureKind { Generic, Compatible };

class CriticFeatures {
 public:
  CriticFeatures(FeatureKind kind, int64_t state_size, int agents, int action_dim);
  int64_t size() const { return size_; }
  FeatureKind kind() const { return kind_; }
  // φ(s, a); `mu` (the joint μ(s)) is read by compatible features only.
  std::vector<double> features(const std::vector<double>& s, const std::vector<double>& a,
                               const std::vector<double>& mu) const;
  // ∇_{a^agent} φ(s, a)ᵀω: action_dim values.
  std::vector<double> action_gradient(const std::vector<double>& s, const std::vector<double>& a,
                                      const std::vector<double>& mu, const std::vector<double>& weights,
                                      int agent) const;

 private:
  FeatureKind kind_;
  int64_t state_size_, joint_, action_dim_, size_;
};

double dot(const std::vector<double>& x, const std::vector<double>& y);

// Average-reward TD(0) on a linear critic, in the paper's order:
//   Ĵ ← (1 − β)Ĵ + β r;  δ = r − Ĵ + φ'ᵀω − φᵀω;  ω ← ω + β δ φ.
struct AverageRewardTd {
  explicit AverageRewardTd(int64_t size) : weights(static_cast<size_t>(size), 0.0) {}
  std::vector<double> weights;
  double average_reward = 0;
  double update(const std::vector<double>& phi, double reward, const std::vector<double>& phi_next, double beta);
};

// Reward regression: δ = r − φᵀω;  ω ← ω + β δ φ. Returns δ.
double reward_regression_update(std::vector<double>& weights, const std::vector<double>& phi, double reward,
                                double beta);

}  // namespace loom::rl::marl
