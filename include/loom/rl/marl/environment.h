// Multi-agent environments for decentralised actor-critic: a global state
// every agent observes, one continuous action block per agent (the joint
// action is their concatenation, agent-major), and one local reward per
// agent. The team objective is the long-run average of the mean reward.
// Registered by name (marl_environments(), filled once by
// register_all_marl_environments()): the continuous bandit of the paper,
// networked resource allocation with a shared budget, and MPE-style
// cooperative navigation.
//
//   auto env = loom::rl::marl::make_marl_environment(options);
//   auto s = env->reset(seed);
//   auto step = env->step(joint_action);   // step.rewards[i]: agent i's reward
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/core/registry.h"

namespace loom::rl::marl {

struct EnvironmentOptions {
  std::string environment = "bandit";
  int agents = 4;
  int action_dim = 1;         // bandit: action components per agent
  uint64_t problem_seed = 1;  // draws the task instance (targets, demands' means), fixed across run seeds
  double reward_noise = 0.1;  // standard deviation of the Gaussian noise on each local reward
  // bandit: how far each agent's own target lies from the team's (local rewards differ).
  double bandit_target_spread = 0.5;
  // resource: budget as a fraction of the mean total demand; coupling with the
  // neighbours on the task ring; penalty on spending over the budget.
  double resource_budget = 0.8;
  double resource_coupling = 0.2;
  double resource_penalty = 2.0;
  bool resource_overspend_only = false;  // penalise only spending over the budget
  // navigation: steps per episode, collision radius and penalty.
  int64_t navigation_episode = 25;
  double navigation_collision_penalty = 0.5;
};
const ParamSchema<EnvironmentOptions>& environment_options_schema();

struct MarlStep {
  std::vector<double> state;    // the next state
  std::vector<double> rewards;  // one per agent
};

class MultiAgentEnvironment {
 public:
  virtual ~MultiAgentEnvironment() = default;
  virtual int agents() const = 0;
  virtual int action_dim() const = 0;  // per agent
  virtual double action_low() const { return -1; }
  virtual double action_high() const { return 1; }
  virtual int64_t state_size() const = 0;
  virtual std::vector<double> reset(uint64_t seed) = 0;
  // Executes the joint action (clipped into the action box; a wrong size or
  // a NaN is a loom::Error).
  virtual MarlStep step(const std::vector<double>& joint_action) = 0;
  // The noise-free mean reward that `joint_action` earns in `state`.
  virtual double team_reward(const std::vector<double>& state, const std::vector<double>& joint_action) const = 0;
  // The joint action that maximises the mean reward in `state`, where known.
  virtual std::optional<std::vector<double>> optimal_action(const std::vector<double>&) const { return std::nullopt; }
  // Evaluation: `evaluation_steps()` steps from reset(seed) per episode (1:
  // the task has no dynamics the actions drive, and each episode is one state).
  virtual int64_t evaluation_steps() const { return 1; }
};

struct MarlEnvironmentEntry {
  std::string help;
  std::function<std::unique_ptr<MultiAgentEnvironment>(const EnvironmentOptions&)> make;
};
Registry<MarlEnvironmentEntry>& marl_environments();
std::unique_ptr<MultiAgentEnvironment> make_marl_environment(const EnvironmentOptions& options);

// The joint action clipped into [low, high]; loom::Error on a wrong size or NaN.
std::vector<double> clip_joint_action(const MultiAgentEnvironment& env, const std::vector<double>& joint_action);

}  // namespace loom::rl::marl
