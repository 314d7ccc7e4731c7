// Tiny synthetic models and batches shared by the model and train tests.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "loom/core/collate.h"
#include "loom/models/llama/llama.h"

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

// Central finite differences of the scalar f() against the analytic gradient
// of every input (double precision inputs; h = 1e-6).
inline void expect_gradients_match_finite_differences(const std::function<torch::Tensor()>& f,
                                                      const std::vector<torch::Tensor*>& inputs, double tol = 1e-6) {
  for (auto* t : inputs)
    if (t->grad().defined()) t->mutable_grad().zero_();
  f().backward();
  const double h = 1e-6;
  for (auto* t : inputs) {
    auto analytic = t->grad().clone();
    auto flat = t->detach().view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      double old = flat[i].item<double>();
      flat[i] = old + h;
      double up = f().item<double>();
      flat[i] = old - h;
      double down = f().item<double>();
      flat[i] = old;
      EXPECT_NEAR((up - down) / (2 * h), analytic.view({-1})[i].item<double>(), tol) << "element " << i;
    }
  }
}

}  // namespace loom::testing
