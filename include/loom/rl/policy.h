// A deterministic policy: observations in, actions out. The trained actor
// networks implement it (rl/networks.h), and so do the fixed strategies
// (uniform constant rebalancing, OLMAR); NP reads its guiding policy through
// it, for the current state and along every scenario.
//
//   std::vector<double> a = policy.act(observation);
//   auto batch = policy.act_batch(observations);  // one call for many states
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "loom/rl/env.h"

namespace loom::rl {

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::vector<std::vector<double>> act_batch(const std::vector<Observation>& observations) = 0;
  std::vector<double> act(const Observation& observation) { return act_batch({observation})[0]; }
};

}  // namespace loom::rl
