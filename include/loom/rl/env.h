// The reinforcement-learning environment interface: reset/step with
// continuous actions (an allocation on the simplex, or a box), an explicit
// constraint set per state, exact save/restore of the state (for resume),
// and optionally the stochastic program the state poses (for NP, the pure
// stochastic program and the extensive form).
//
// Environments are registered by name (environments(), filled once by
// register_all_environments() in src/rl/env.cpp); each declares its own
// parameters, which join `loom np`'s configuration keys.
//
//   auto env = loom::rl::make_environment("portfolio", params, loom::rl::Split::Train);
//   auto obs = env->reset(/*seed=*/7);
//   while (true) {
//     auto c = env->constraints();            // what the next action must meet
//     auto r = env->step(action_for(obs, c));  // r.feasibility: the action against c
//     if (r.done) break;
//     obs = r.observation;
//   }
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/params.h"
#include "loom/core/registry.h"
#include "loom/rl/constraint_set.h"

namespace loom::rl {

// Observations are flat float vectors: first a history of
// sequence_length x sequence_features values (row-major, oldest first; what
// an LSTM reads), then flat_features values.
struct ObservationSpec {
  int64_t sequence_length = 0;
  int64_t sequence_features = 0;
  int64_t flat_features = 0;
  int64_t size() const { return sequence_length * sequence_features + flat_features; }
};
using Observation = std::vector<float>;

enum class ActionKind {
  Simplex,  // components in [0, 1] summing to one (allocations)
  Box,      // each component in [low, high]
};

struct ActionSpec {
  int64_t size = 0;
  ActionKind kind = ActionKind::Box;
  std::vector<double> low, high;   // Box only
  std::vector<std::string> names;  // one per component (for messages and reports)
};

struct StepResult {
  Observation observation;
  double reward = 0;
  bool done = false;
  // The executed action against the constraint set of the state it was
  // taken in, and the violation's cost for safe RL (0 when feasible).
  FeasibilityReport feasibility;
  double cost = 0;
  std::map<std::string, double> info;  // environment-specific (wealth, unmet demand, ...)
};

// Which part of the data an environment instance draws its episodes from.
enum class Split { Train, Tune, Test };
const char* split_name(Split split);

class StochasticProgram;  // src/rl/stochastic_program.h
struct ScenarioOptions;   // loom/rl/progressive_hedging.h

class Environment {
 public:
  virtual ~Environment() = default;
  virtual std::string name() const = 0;
  virtual ObservationSpec observation_spec() const = 0;
  virtual ActionSpec action_spec() const = 0;
  virtual int64_t max_episode_steps() const = 0;
  // Episodes of a split: training draws a random start from `seed`; a test
  // split enumerates its episodes, `episode` picking one (0..episodes()-1).
  virtual int64_t episodes() const { return 1; }
  virtual Observation reset(uint64_t seed, int64_t episode = -1) = 0;
  // What the next action must meet; never empty while an episode runs.
  virtual ConstraintSet constraints() const = 0;
  // A conservative set a heuristic keeps to (DDPG-H); by default the same.
  virtual ConstraintSet heuristic_constraints() const { return constraints(); }
  // Executes `action`. An action outside the action space (not an
  // allocation, out of the box, NaN) is a loom::Error; one that misses the
  // state's constraint set is executed and reported in feasibility/cost.
  virtual StepResult step(const std::vector<double>& action) = 0;
  // The observation of the current state (as reset/step returned it).
  virtual Observation observe() const = 0;
  // Exact state, for checkpoints: set_state(state()) changes nothing.
  virtual nlohmann::json state() const = 0;
  virtual void set_state(const nlohmann::json& state) = 0;
  // The two-stage stochastic program the current state poses, from the
  // environment's fitted transition model; null when it has none.
  virtual std::unique_ptr<StochasticProgram> stochastic_program(const ScenarioOptions& options, uint64_t seed) const;
};

// Checks an action against the action space; throws loom::Error naming
// `origin` and the offending component.
void check_action_space(const ActionSpec& spec, const std::vector<double>& action, const std::string& origin);

struct EnvironmentEntry {
  std::string help;
  std::vector<ParamSpec> params;  // the environment's own configuration keys
  std::function<std::unique_ptr<Environment>(const Params& params, Split split)> make;
};
Registry<EnvironmentEntry>& environments();
std::unique_ptr<Environment> make_environment(const std::string& name, const Params& params, Split split);
// Every registered environment's parameters, each name once.
std::vector<ParamSpec> environment_param_specs();

}  // namespace loom::rl
