// Actor and critic networks for continuous control, built on loom::Mlp and
// LibTorch's LSTM. An observation (rl/env.h) is a history of
// sequence_length x sequence_features values followed by flat features: the
// MLP encoder reads it flattened; the LSTM encoder runs over the history and
// joins its last hidden state to the flat features.
//
// The actor's raw output becomes an action by the action space's head:
// softmax for an allocation (Simplex), a tanh scaled into [low, high] (Box).
// Exploration noise is added before the head, so that explored actions stay
// in the action space.
//
//   loom::rl::NetworkOptions net;  net.encoder = loom::rl::Encoder::Lstm;
//   loom::rl::Actor actor(env.observation_spec(), env.action_spec(), net);
//   auto a = actor->act(observations);        // [B, A], in the action space
//   loom::rl::Critic critic(env.observation_spec(), env.action_spec(), net);
//   auto q = critic(observations, a);         // [B, 1]
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/nn/mlp.h"
#include "loom/rl/env.h"
#include "loom/rl/policy.h"

namespace loom::rl {

enum class Encoder { Mlp, Lstm };

struct NetworkOptions {
  Encoder encoder = Encoder::Mlp;
  std::vector<std::string> hidden = {"64", "64"};  // hidden layer sizes of the MLPs
  int64_t lstm_hidden = 32;                        // the paper's LSTM has 256 cells (scaled down, docs/np.md)
  Activation activation = Activation::ReLU;
  std::vector<int64_t> hidden_sizes() const;
};
const ParamSchema<NetworkOptions>& network_options_schema();

// Observations [B, size] -> features [B, out_size()].
class ObservationEncoderImpl : public torch::nn::Module {
 public:
  ObservationEncoderImpl(const ObservationSpec& spec, const NetworkOptions& options);
  torch::Tensor forward(const torch::Tensor& observations);
  int64_t out_size() const { return out_size_; }

 private:
  ObservationSpec spec_;
  Encoder encoder_;
  int64_t out_size_ = 0;
  torch::nn::LSTM lstm_{nullptr};
};
TORCH_MODULE(ObservationEncoder);

class ActorImpl : public torch::nn::Module {
 public:
  ActorImpl(const ObservationSpec& observation, const ActionSpec& action, const NetworkOptions& options);
  // Raw outputs [B, A], before the head.
  torch::Tensor forward(const torch::Tensor& observations);
  // The action-space head: softmax, or tanh into [low, high].
  torch::Tensor head(const torch::Tensor& raw) const;
  torch::Tensor act(const torch::Tensor& observations) { return head(forward(observations)); }
  const ActionSpec& action_spec() const { return action_; }
  const ObservationSpec& observation_spec() const { return observation_spec_; }

 private:
  ObservationSpec observation_spec_;
  ActionSpec action_;
  ObservationEncoder encoder_{nullptr};
  Mlp mlp_{nullptr};
  torch::Tensor low_, high_;
};
TORCH_MODULE(Actor);

class CriticImpl : public torch::nn::Module {
 public:
  CriticImpl(const ObservationSpec& observation, const ActionSpec& action, const NetworkOptions& options);
  torch::Tensor forward(const torch::Tensor& observations, const torch::Tensor& actions);  // [B, 1]

 private:
  ObservationEncoder encoder_{nullptr};
  Mlp mlp_{nullptr};
};
TORCH_MODULE(Critic);

// A state-value network V(s), for on-policy methods.
class ValueImpl : public torch::nn::Module {
 public:
  ValueImpl(const ObservationSpec& observation, const NetworkOptions& options);
  torch::Tensor forward(const torch::Tensor& observations);  // [B, 1]

 private:
  ObservationEncoder encoder_{nullptr};
  Mlp mlp_{nullptr};
};
TORCH_MODULE(Value);

// Observations as a float tensor [B, size].
torch::Tensor observation_batch(const std::vector<Observation>& observations, int64_t size);

// A deterministic policy over an actor (shares its weights).
std::unique_ptr<Policy> make_actor_policy(Actor actor);

// Policy directories: DIR/{policy.json, actor.safetensors}. The JSON names
// the format, the network options and both spaces; loading checks them
// against the environment the policy is to act in.
void save_policy(const std::string& dir, const Actor& actor, const NetworkOptions& options,
                 const std::string& algorithm);
std::unique_ptr<Policy> load_policy(const std::string& dir, const ObservationSpec& observation,
                                    const ActionSpec& action);

}  // namespace loom::rl
