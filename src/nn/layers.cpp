#include "loom/nn/layers.h"

#include "loom/core/error.h"
#include "loom/nn/fused_ops.h"

namespace loom {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) { return rms_norm(x, weight, eps_); }

RotaryEmbedding::RotaryEmbedding(int64_t head_dim, int64_t max_positions, double theta) {
  torch::NoGradGuard no_grad;
  auto inv_freq =
      1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, torch::kDouble) / static_cast<double>(head_dim));
  auto freqs = torch::outer(torch::arange(max_positions, torch::kDouble), inv_freq);
  auto emb = torch::cat({freqs, freqs}, -1);
  cos_ = emb.cos().to(torch::kFloat);
  sin_ = emb.sin().to(torch::kFloat);
}

RotaryEmbedding::Tables RotaryEmbedding::tables(const torch::Tensor& positions) const {
  if (positions.numel() > 0 && (positions.max().item<int64_t>() >= cos_.size(0) || positions.min().item<int64_t>() < 0))
    throw Error("position ids must lie in [0, max_position_embeddings=" + std::to_string(cos_.size(0)) + ")");
  return {cos_.index_select(0, positions).unsqueeze(1), sin_.index_select(0, positions).unsqueeze(1)};
}

torch::Tensor RotaryEmbedding::apply(const torch::Tensor& x, const torch::Tensor& positions) const {
  return apply(x, tables(positions));
}

torch::Tensor RotaryEmbedding::apply(const torch::Tensor& x, const Tables& t) const {
  if (fused_ops().rope) return rope_rotate(x, t.cos, t.sin);
  const auto& cos = t.cos;
  const auto& sin = t.sin;
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

}  // namespace loom
