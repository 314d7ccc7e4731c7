// A fixed-capacity ring buffer of transitions for off-policy learning. Its
// storage is registered as (non-trainable) tensors of a module, so that an
// agent's checkpoint carries it and a resumed run samples exactly what an
// uninterrupted one would.
//
//   loom::rl::ReplayBuffer replay(capacity, observation_size, action_size);
//   replay->add(observation, action, reward, cost, next_observation, terminal);
//   auto batch = replay->sample(64, rng);   // uniform, with replacement
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "loom/rl/env.h"

namespace loom::rl {

struct TransitionBatch {
  torch::Tensor observations, actions, rewards, costs, next_observations, terminals;  // [B, ...]; scalars as [B, 1]
};

class ReplayBufferImpl : public torch::nn::Module {
 public:
  ReplayBufferImpl(int64_t capacity, int64_t observation_size, int64_t action_size);
  void add(const Observation& observation, const std::vector<double>& action, double reward, double cost,
           const Observation& next, bool terminal);
  TransitionBatch sample(int64_t batch, std::mt19937_64& rng) const;
  int64_t size() const { return size_; }
  int64_t capacity() const { return capacity_; }
  nlohmann::json state() const { return {{"position", position_}, {"size", size_}}; }
  void set_state(const nlohmann::json& state);

 private:
  int64_t capacity_, observation_size_, action_size_;
  int64_t position_ = 0, size_ = 0;
  torch::Tensor observations_, actions_, rewards_, costs_, next_, terminals_;
};
TORCH_MODULE(ReplayBuffer);

}  // namespace loom::rl
