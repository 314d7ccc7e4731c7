// The interface every causal language model in loom implements (Llama,
// Mixtral-style MoE, elastic supernet subnets), so that training, evaluation,
// generation, merging and model directories work on any of them. A model
// family registers itself in models/model_registry.h under its config.json
// `model_type`.
//
//   loom::CausalLM model = loom::load_model_dir("runs/x/model").model;
//   loom::ModelOutput out = model->forward_hidden(batch);
//   torch::Tensor loss = model->loss_sum(batch);
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/nn/feed_forward.h"
#include "loom/tensor/batch.h"

namespace loom {

// Per-layer key/value cache for generation.
struct KVCache {
  std::vector<torch::Tensor> keys, values;  // per layer: [positions, kv_heads, head_dim]
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(0); }
};

struct ModelOutput {
  torch::Tensor hidden;  // final hidden states after the last norm, [T, hidden]
  ForwardRecord record;  // per-layer hidden states (when asked), router logits
};

class CausalLMImpl : public torch::nn::Module {
 public:
  // config.json's model_type ("llama", "mixtral", ...).
  virtual std::string model_type() const = 0;
  // What config.json holds (special-token ids are filled in by save_model_dir).
  virtual nlohmann::json config_json() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t hidden_size() const = 0;
  virtual int64_t max_positions() const = 0;
  virtual int64_t num_layers() const = 0;

  // Final hidden states for a packed stream; with keep_layer_hidden, also
  // the hidden state after each layer in out.record.layer_hidden.
  virtual ModelOutput forward_hidden(const BatchTensors& batch, bool keep_layer_hidden = false) = 0;
  // The vocabulary projection [vocab, hidden] (lm_head, or the tied embedding).
  virtual torch::Tensor output_weight() const = 0;
  // Logits [n, vocab] for n new tokens, extending `cache`.
  virtual torch::Tensor forward_cached(const torch::Tensor& input_ids, KVCache* cache) = 0;
  // Initialises every weight from `seed` (the family's convention).
  virtual void reset_parameters(uint64_t seed) = 0;
  // Tensors a checkpoint may carry that this model does not need (e.g. a
  // rotary table, lm_head of a tied model): skipped on load, not an error.
  virtual bool ignores_tensor(const std::string& /*name*/) const { return false; }

  // Logits [T, vocab] of a packed batch.
  torch::Tensor forward(const BatchTensors& batch);
  // Sum of token cross-entropies over labels != -100 (callers divide by the
  // label-token count of the whole accumulated batch).
  torch::Tensor loss_sum(const BatchTensors& batch);
};
using CausalLM = std::shared_ptr<CausalLMImpl>;

// Σ cross-entropy of hidden·Wᵀ against labels, projecting only rows with a
// label (with prompt masking or padding that skips a large share of the
// biggest matmul). Shared by every family and by loss hooks.
torch::Tensor lm_loss_sum(const torch::Tensor& hidden, const torch::Tensor& output_weight, const torch::Tensor& labels);

}  // namespace loom
