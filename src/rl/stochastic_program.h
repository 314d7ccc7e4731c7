// The two-stage stochastic program an environment's state poses, scenario
// by scenario (a two-layer tree: the root, shared by every scenario, and one
// leaf path per scenario). Progressive hedging, the pure stochastic program
// and the extensive form all read it through this interface.
//
// Every scenario model has the same first root_size() columns: the root
// decision, which must not anticipate the scenario. The scenario's loss is
// linear, objective . x + loss_constant(s), to be minimised under the model's
// rows and bounds. Later stages (the leaves) are the scenario's own columns;
// guided_stages() of them hold an action the policy can propose along the
// scenario (NP's x^π beyond the root).
//
// Private to the rl module (its models are built with clp_lp.h's add_col).
#pragma once
#include <cstdint>
#include <vector>

#include "clp_lp.h"
#include "loom/rl/env.h"

namespace loom::rl {

class StochasticProgram {
 public:
  virtual ~StochasticProgram() = default;
  virtual int64_t scenarios() const = 0;
  // Sampled scenarios are equally likely.
  virtual double probability(int64_t /*scenario*/) const { return 1.0 / static_cast<double>(scenarios()); }
  virtual int64_t root_size() const = 0;
  virtual LpModel scenario_model(int64_t scenario) const = 0;
  virtual double loss_constant(int64_t /*scenario*/) const { return 0; }

  // The root columns' values for an environment action (the policy's x^π),
  // and the environment action the root columns stand for.
  virtual std::vector<double> root_from_action(const std::vector<double>& action) const = 0;
  virtual std::vector<double> action_from_root(const std::vector<double>& root) const = 0;

  // Policy guidance beyond the root: the observation at `stage` (1..) of a
  // scenario when the root action is `root_action`, the scenario model's
  // columns that hold that stage's action, and their target values for a
  // proposed stage action.
  virtual int64_t guided_stages() const { return 0; }
  virtual Observation stage_observation(int64_t /*scenario*/, int64_t /*stage*/,
                                        const std::vector<double>& /*root_action*/) const {
    return {};
  }
  virtual std::vector<int64_t> stage_columns(int64_t /*scenario*/, int64_t /*stage*/) const { return {}; }
  virtual std::vector<double> stage_target(int64_t /*scenario*/, int64_t /*stage*/,
                                           const std::vector<double>& /*root_action*/,
                                           const std::vector<double>& /*stage_action*/) const {
    return {};
  }
};

}  // namespace loom::rl
