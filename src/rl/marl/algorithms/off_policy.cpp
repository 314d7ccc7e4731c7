// Algorithm 2 (off-policy): actions come from a behaviour policy, here
// μ^i(s) + N(0, behaviour_sigma²) (the paper leaves the behaviour policy
// open; docs/marl.md); the critic regresses the reward, δ = r^i − R̂(s, a);
// the actor reads ∇_{a^i} R̂(s, μ^{-i}(s), a^i) at a^i = μ^i(s), i.e. at the
// joint target action.
#include "algorithms.h"

namespace loom::rl::marl {

void register_off_policy(Registry<MarlAlgorithmEntry>& r) {
  MarlAlgorithmEntry e;
  e.help = "Algorithm 2: reward-regression critic, actions from a behaviour policy";
  e.behaviour = [](const std::vector<double>& mu, const MarlOptions& o, std::mt19937_64& rng) {
    std::normal_distribution<double> noise(0, o.behaviour_sigma);
    std::vector<double> a(mu);
    for (auto& v : a) v += noise(rng);
    return a;
  };
  e.critic_step = [](AverageRewardTd& critic, const std::vector<double>& phi, double reward, const std::vector<double>&,
                     double beta) {
    // Ĵ still tracks the local average reward (reported; not in δ).
    critic.average_reward = (1 - beta) * critic.average_reward + beta * reward;
    return reward_regression_update(critic.weights, phi, reward, beta);
  };
  e.gradient_point = [](const std::vector<double>&, const std::vector<double>& mu, int, int) { return mu; };
  r.add("off_policy", std::move(e));
}

}  // namespace loom::rl::marl
