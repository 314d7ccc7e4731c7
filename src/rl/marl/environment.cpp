#include "loom/rl/marl/environment.h"

#include <cmath>
#include <mutex>

#include "envs/envs.h"
#include "loom/core/error.h"

namespace loom::rl::marl {

const ParamSchema<EnvironmentOptions>& environment_options_schema() {
  using O = EnvironmentOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("environment", &O::environment, "multi-agent task: bandit, resource or navigation")
        .add("agents", &O::agents, "number of agents", {2, 64})
        .add("action_dim", &O::action_dim, "bandit: action components per agent", {1, 16})
        .add("problem_seed", &O::problem_seed, "seed of the task instance (targets, demand means), fixed across runs")
        .add("reward_noise", &O::reward_noise, "standard deviation of the noise on each local reward", {0, 10})
        .add("bandit_target_spread", &O::bandit_target_spread,
             "bandit: distance of each agent's own target from the team's", {0, 10})
        .add("resource_budget", &O::resource_budget, "resource: budget as a fraction of the mean total demand",
             {0.01, 10})
        .add("resource_coupling", &O::resource_coupling,
             "resource: weight of the squared difference to each task-ring neighbour's allocation", {0, 100})
        .add("resource_penalty", &O::resource_penalty,
             "resource: weight of the squared deviation from (or overspend of) the budget", {0, 1000})
        .add("resource_overspend_only", &O::resource_overspend_only,
             "resource: penalise only spending over the budget (else any deviation from it)")
        .add("navigation_episode", &O::navigation_episode, "navigation: steps per episode", {1, 100000})
        .add("navigation_collision_penalty", &O::navigation_collision_penalty,
             "navigation: reward lost per other agent within the collision radius", {0, 100});
    return s;
  }();
  return schema;
}

namespace {
void register_all_marl_environments(Registry<MarlEnvironmentEntry>& r) {
  register_bandit(r);
  register_resource_allocation(r);
  register_navigation(r);
}
}  // namespace

Registry<MarlEnvironmentEntry>& marl_environments() {
  static Registry<MarlEnvironmentEntry> registry("multi-agent environment", register_all_marl_environments);
  return registry;
}

std::unique_ptr<MultiAgentEnvironment> make_marl_environment(const EnvironmentOptions& options) {
  return marl_environments().get(options.environment, "environment").make(options);
}

std::vector<double> clip_joint_action(const MultiAgentEnvironment& env, const std::vector<double>& a) {
  const size_t want = static_cast<size_t>(env.agents() * env.action_dim());
  if (a.size() != want)
    throw Error("joint action has " + std::to_string(a.size()) + " components; this environment takes " +
                std::to_string(want) + " (" + std::to_string(env.agents()) + " agents x " +
                std::to_string(env.action_dim()) + ")");
  std::vector<double> out(a.size());
  for (size_t k = 0; k < a.size(); ++k) {
    if (!std::isfinite(a[k]))
      throw Error("joint action component " + std::to_string(k) + " (agent " +
                  std::to_string(k / static_cast<size_t>(env.action_dim())) + ") is not finite");
    out[k] = std::min(env.action_high(), std::max(env.action_low(), a[k]));
  }
  return out;
}

}  // namespace loom::rl::marl
