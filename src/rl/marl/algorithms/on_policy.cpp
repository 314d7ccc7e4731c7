// Algorithm 1 (on-policy): the executed action is μ^i(s) plus Gaussian
// exploration (exploration_sigma; the paper's analysis has none, a
// deterministic on-policy learner needs some: docs/marl.md); the critic
// learns the differential action value by average-reward TD; the actor
// reads ∇_{a^i} Q̂ at (a^{-i}, μ^i(s)): the others' executed actions and its
// own target.
#include "algorithms.h"

namespace loom::rl::marl {

void register_on_policy(Registry<MarlAlgorithmEntry>& r) {
  MarlAlgorithmEntry e;
  e.help = "Algorithm 1: average-reward TD critic, actions from the actors plus exploration";
  e.behaviour = [](const std::vector<double>& mu, const MarlOptions& o, std::mt19937_64& rng) {
    std::normal_distribution<double> noise(0, o.exploration_sigma);
    std::vector<double> a(mu);
    for (auto& v : a) v += noise(rng);
    return a;
  };
  e.critic_step = [](AverageRewardTd& critic, const std::vector<double>& phi, double reward,
                     const std::vector<double>& phi_next,
                     double beta) { return critic.update(phi, reward, phi_next, beta); };
  e.gradient_point = [](const std::vector<double>& taken, const std::vector<double>& mu, int agent, int action_dim) {
    std::vector<double> point(taken);
    for (int c = 0; c < action_dim; ++c)
      point[static_cast<size_t>(agent * action_dim + c)] = mu[static_cast<size_t>(agent * action_dim + c)];
    return point;
  };
  r.add("on_policy", std::move(e));
}

}  // namespace loom::rl::marl
