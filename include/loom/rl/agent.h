// Learning agents and the registry of RL algorithms. An agent explores,
// records what happened, and learns when it has enough: off-policy methods
// (DDPG, TD3) update from a replay buffer every step; on-policy ones
// (PPO-Lagrangian) once a rollout is full. The trainer (rl/trainer.h) drives
// every algorithm through this one interface and checkpoints it through
// state_module(), optimizer() and extra_state().
//
// Algorithms are registered by name (algorithms(), filled once by
// register_all_algorithms() in src/rl/agent.cpp), one file each under
// src/rl/algorithms/, and declare their own parameters.
//
//   auto agent = loom::rl::make_agent("td3", params, env.observation_spec(), env.action_spec(), seed);
//   auto a = agent->explore(observation, step);
//   agent->record({observation, a, r.reward, r.cost, r.observation, terminal});
//   auto losses = agent->learn(step);
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/params.h"
#include "loom/core/registry.h"
#include "loom/rl/env.h"
#include "loom/rl/networks.h"
#include "loom/rl/policy.h"

namespace loom::rl {

struct Transition {
  Observation observation;
  std::vector<double> action;
  double reward = 0;
  double cost = 0;  // constraint-violation cost (safe RL)
  Observation next;
  bool terminal = false;   // the episode ended by the environment's dynamics (no bootstrapping)
  bool truncated = false;  // the episode ended by its step limit
};

class Agent {
 public:
  virtual ~Agent() = default;
  // An action with exploration, in the action space.
  virtual std::vector<double> explore(const Observation& observation, int64_t step) = 0;
  virtual void record(const Transition& transition) = 0;
  // At an episode's start (resets exploration noise).
  virtual void start_episode() {}
  // After each environment step: any update's losses (empty if none).
  virtual std::map<std::string, double> learn(int64_t step) = 0;
  // The deterministic policy (shares the agent's weights).
  virtual std::unique_ptr<Policy> policy() = 0;
  virtual Actor actor() = 0;
  // Checkpointed state: every network, target and buffer as one module's
  // parameters, one optimizer, and the rest as JSON.
  virtual torch::nn::Module& state_module() = 0;
  virtual torch::optim::Optimizer& optimizer() = 0;
  virtual nlohmann::json extra_state() const = 0;
  virtual void set_extra_state(const nlohmann::json& state) = 0;
};

struct AlgorithmEntry {
  std::string help;
  std::vector<ParamSpec> params;  // the algorithm's own configuration keys
  std::function<std::unique_ptr<Agent>(const Params& params, const ObservationSpec&, const ActionSpec&,
                                       const NetworkOptions&, uint64_t seed)>
      make;
};
Registry<AlgorithmEntry>& algorithms();
std::vector<ParamSpec> algorithm_param_specs();
// `params` must hold the algorithm's keys and the network keys.
std::unique_ptr<Agent> make_agent(const std::string& name, const Params& params, const ObservationSpec& observation,
                                  const ActionSpec& action, uint64_t seed);

// Sets a module's gradients to undefined, so that an optimizer step skips
// its parameters (one optimizer serves actor and critic).
void clear_gradients(torch::nn::Module& module);
// target ← τ source + (1 - τ) target, parameter by parameter.
void soft_update(torch::nn::Module& target, const torch::nn::Module& source, double tau);

}  // namespace loom::rl
