// Tiny synthetic models and batches shared by the model and train tests.
#pragma once
#include <torch/torch.h>

#include "loom/core/collate.h"
#include "loom/model/llama.h"

namespace loom::testing {

inline LlamaConfig tiny_config(int64_t kv_heads = 2, bool tied = false) {
  LlamaConfig c;
  c.vocab_size = 300;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = kv_heads;
  c.max_position_embeddings = 128;
  c.tie_word_embeddings = tied;
  return c;
}

inline Example random_example(int64_t length, uint64_t seed) {
  Example e;
  uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int64_t i = 0; i < length; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    e.tokens.push_back(static_cast<int32_t>((x >> 33) % 60) + 1);
  }
  e.target.assign(static_cast<size_t>(length), 1);
  e.target[0] = 0;
  return e;
}

// Gradients of every parameter after backward on `loss`, cloned.
inline std::vector<torch::Tensor> grads_of(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (auto& p : m.parameters()) out.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return out;
}

}  // namespace loom::testing
