#include "loom/rl/marl/critic.h"

#include <string>

#include "loom/core/error.h"

namespace loom::rl::marl {

CriticFeatures::CriticFeatures(FeatureKind kind, int64_t state_size, int agents, int action_dim)
    : kind_(kind), state_size_(state_size), joint_(int64_t{agents} * action_dim), action_dim_(action_dim) {
  const int64_t base = state_size + 1;
  size_ = kind == FeatureKind::Generic
              ? base + base * joint_ + joint_ * (joint_ + 1) / 2 + state_size * (state_size + 1) / 2
              : base * joint_ + base;
}

double dot(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size())
    throw Error("critic: vectors of " + std::to_string(x.size()) + " and " + std::to_string(y.size()) + " values");
  double total = 0;
  for (size_t k = 0; k < x.size(); ++k) total += x[k] * y[k];
  return total;
}

std::vector<double> CriticFeatures::features(const std::vector<double>& s, const std::vector<double>& a,
                                             const std::vector<double>& mu) const {
  if (static_cast<int64_t>(s.size()) != state_size_ || static_cast<int64_t>(a.size()) != joint_ ||
      (kind_ == FeatureKind::Compatible && static_cast<int64_t>(mu.size()) != joint_))
    throw Error("critic features: state of " + std::to_string(s.size()) + " and joint action of " +
                std::to_string(a.size()) + " values; expected " + std::to_string(state_size_) + " and " +
                std::to_string(joint_));
  std::vector<double> psi{1.0};
  psi.insert(psi.end(), s.begin(), s.end());
  std::vector<double> phi;
  phi.reserve(static_cast<size_t>(size_));
  if (kind_ == FeatureKind::Generic) {
    phi = psi;
    for (double p : psi)
      for (double ak : a) phi.push_back(p * ak);
    for (int64_t k = 0; k < joint_; ++k)
      for (int64_t l = k; l < joint_; ++l) phi.push_back(a[static_cast<size_t>(k)] * a[static_cast<size_t>(l)]);
    // State-only quadratic terms: without them the reward's s² parts, which
    // correlate with s ⊗ a under the policy, leak into the action slopes.
    for (size_t k = 0; k < s.size(); ++k)
      for (size_t l = k; l < s.size(); ++l) phi.push_back(s[k] * s[l]);
  } else {
    for (int64_t k = 0; k < joint_; ++k)
      for (double p : psi) phi.push_back((a[static_cast<size_t>(k)] - mu[static_cast<size_t>(k)]) * p);
    phi.insert(phi.end(), psi.begin(), psi.end());
  }
  return phi;
}

std::vector<double> CriticFeatures::action_gradient(const std::vector<double>& s, const std::vector<double>& a,
                                                    const std::vector<double>&, const std::vector<double>& w,
                                                    int agent) const {
  if (static_cast<int64_t>(w.size()) != size_)
    throw Error("critic: " + std::to_string(w.size()) + " weights for " + std::to_string(size_) + " features");
  const int64_t base = state_size_ + 1;
  auto psi = [&](int64_t m) { return m == 0 ? 1.0 : s[static_cast<size_t>(m - 1)]; };
  std::vector<double> g;
  for (int64_t c = 0; c < action_dim_; ++c) {
    const int64_t k = int64_t{agent} * action_dim_ + c;
    double total = 0;
    if (kind_ == FeatureKind::Generic) {
      for (int64_t m = 0; m < base; ++m) total += psi(m) * w[static_cast<size_t>(base + m * joint_ + k)];
      // Quadratic block: index of (p, q), p ≤ q, in row-major upper-triangle order.
      int64_t offset = base + base * joint_;
      for (int64_t p = 0; p < joint_; ++p)
        for (int64_t q = p; q < joint_; ++q, ++offset) {
          if (p == k && q == k)
            total += 2 * a[static_cast<size_t>(k)] * w[static_cast<size_t>(offset)];
          else if (p == k)
            total += a[static_cast<size_t>(q)] * w[static_cast<size_t>(offset)];
          else if (q == k)
            total += a[static_cast<size_t>(p)] * w[static_cast<size_t>(offset)];
        }
    } else {
      for (int64_t m = 0; m < base; ++m) total += psi(m) * w[static_cast<size_t>(k * base + m)];
    }
    g.push_back(total);
  }
  return g;
}

double AverageRewardTd::update(const std::vector<double>& phi, double reward, const std::vector<double>& phi_next,
                               double beta) {
  average_reward = (1 - beta) * average_reward + beta * reward;
  const double delta = reward - average_reward + dot(phi_next, weights) - dot(phi, weights);
  for (size_t k = 0; k < weights.size(); ++k) weights[k] += beta * delta * phi[k];
  return delta;
}

double reward_regression_update(std::vector<double>& weights, const std::vector<double>& phi, double reward,
                                double beta) {
  const double delta = reward - dot(phi, weights);
  for (size_t k = 0; k < weights.size(); ++k) weights[k] += beta * delta * phi[k];
  return delta;
}

}  // namespace loom::rl::marl
