// Prioritized task sampling for multi-task RL (docs/mtrl.md): task k is
// drawn with probability
//     P(k) = (p_k / p̄ + ε)^α / Σ_j (p_j / p̄ + ε)^α,
// p_k the task's recent loss (p̄ their mean: a scale-free ε, our choice) (an exponential moving average of its critic's
// TD loss, or any signal the caller feeds in, e.g. a regret), α = 0 uniform.
// Updates from a task drawn more often than uniformly are down-weighted by
// the importance weight
//     w_k = (1 / (K P(k)))^β / max_j (1 / (K P(j)))^β,
// as prioritized experience replay does (Schaul et al. 2016), β = 0 off.
// The sampler's state (priorities, counts) is JSON, for exact resume.
//
//   loom::mtrl::TaskSampler sampler(tasks, options);
//   size_t k = sampler.draw(rng);
//   double w = sampler.importance_weight(k);
//   sampler.observe(k, td_loss);
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "loom/core/param_schema.h"

namespace loom::mtrl {

struct SamplerOptions {
  double alpha = 0.6;     // priority exponent (0: uniform); PER's value, the paper gives none
  double epsilon = 0.01;  // keeps every task's probability positive
  double beta = 0.4;      // importance-weight exponent (0: no correction); PER's starting value
  double decay = 0.9;     // p_k ← decay p_k + (1 - decay) loss, per observation
  double initial = 1.0;   // p_k before a task's first observation (optimistic: every task is tried)
};
const ParamSchema<SamplerOptions>& sampler_options_schema();

class TaskSampler {
 public:
  TaskSampler(size_t tasks, const SamplerOptions& options);
  size_t tasks() const { return priorities_.size(); }
  // P(k) over all tasks, or over the `eligible` ones (others 0).
  std::vector<double> probabilities(const std::vector<bool>& eligible = {}) const;
  size_t draw(std::mt19937_64& rng, const std::vector<bool>& eligible = {});
  // w_k under the same distribution; 1 for every task when β = 0.
  double importance_weight(size_t task, const std::vector<bool>& eligible = {}) const;
  void observe(size_t task, double loss);
  void set_priority(size_t task, double priority);
  double priority(size_t task) const { return priorities_.at(task); }
  const std::vector<int64_t>& draws() const { return draws_; }
  nlohmann::json state() const;
  void set_state(const nlohmann::json& state);

 private:
  SamplerOptions options_;
  std::vector<double> priorities_;
  std::vector<int64_t> draws_, observed_;
};

}  // namespace loom::mtrl
