// Normalisation and position layers shared by transformer families: RMSNorm
// (one fused autograd node, nn/fused_ops.h) and rotary position embeddings
// driven by explicit per-token position ids (Hugging Face's rotate-half
// convention).
//
//   loom::RMSNorm norm(hidden, 1e-5);
//   loom::RotaryEmbedding rope(head_dim, 2048, 10000.0);
//   auto angles = rope.tables(position_ids);       // once per batch
//   auto q = rope.apply(q_heads, angles);           // [T, heads, head_dim]
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace loom {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  double eps() const { return eps_; }
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Cos/sin tables for the rotary embedding.
class RotaryEmbedding {
 public:
  RotaryEmbedding(int64_t head_dim, int64_t max_positions, double theta);
  struct Tables {
    torch::Tensor cos, sin;  // [T, 1, head_dim] for one batch's positions
  };
  // Gathers the tables for int64 positions [T]; throws on out-of-range ids.
  Tables tables(const torch::Tensor& positions) const;
  // x: [T, heads, head_dim].
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& positions) const;
  torch::Tensor apply(const torch::Tensor& x, const Tables& tables) const;
  int64_t max_positions() const { return cos_.size(0); }

 private:
  torch::Tensor cos_, sin_;  // [max_positions, head_dim]
};

}  // namespace loom
