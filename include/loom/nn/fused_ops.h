// Training ops as single autograd nodes with hand-written backward passes,
// where LibTorch 1.13 runs a chain of separate element-wise passes, each
// saving its own temporaries:
//   rms_norm            weight * x / sqrt(mean(x^2) + eps)
//   swiglu              silu(gate) * up, both gradients in one pass
//   rope_rotate         the rotary embedding, forward and backward in one pass
//   cross_entropy_sum   Σ cross-entropy of hidden·Wᵀ over chunks of rows: the
//                       [rows × vocab] logits never exist at once
// The loops are in nn/fused_kernels.h. Each op is checked against the plain
// composition and by finite differences (tests/nn/test_fused_ops.cpp).
//
// The model's layers pick the fused op or LibTorch's composition by the
// process-wide switch below (the trainer sets it from its options):
//
//   loom::set_fused_ops(loom::FusedOps::none());   // LibTorch's passes
//   auto y = loom::swiglu(gate, up);               // always the fused op
#pragma once
#include <torch/types.h>

namespace loom {

// Which layers use the fused ops (all by default). RMSNorm is always fused.
struct FusedOps {
  bool cross_entropy = true;
  bool swiglu = true;
  bool rope = true;
  static FusedOps none() { return {false, false, false}; }
};
void set_fused_ops(const FusedOps& ops);
FusedOps fused_ops();

// weight * x / sqrt(mean(x^2, -1) + eps)
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// silu(gate) * up for equal-shaped float or double tensors.
torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up);

// silu(gate) * up, fused or as LibTorch's passes as the switch says. Every
// SwiGLU layer (dense, elastic, MoE expert) calls this, so a subnet or an
// expert computes the same bits as the dense layer it was built from.
torch::Tensor swiglu_as_configured(const torch::Tensor& gate, const torch::Tensor& up);

// x [T, heads, head_dim] rotated by per-token tables cos, sin [T, 1, head_dim]
// (RotaryEmbedding::tables) in the rotate-half convention:
// x * cos + cat(-x2, x1) * sin. The tables take no gradient.
torch::Tensor rope_rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Σ_i cross_entropy(hidden[i] · weightᵀ, labels[i]) for hidden [N, d],
// weight [vocab, d], int64 labels [N] in [0, vocab) (rows without a label
// are the caller's to drop). The logits are computed chunk_rows rows at a
// time (0: about 8 MB of logits per chunk); with gradients on, each chunk's
// gradients are formed while its logits are at hand, so backward only scales
// them by the incoming gradient. First-order gradients only.
torch::Tensor cross_entropy_sum(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& labels,
                                int64_t chunk_rows = 0);

}  // namespace loom
