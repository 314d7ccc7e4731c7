// The plain loops behind loom's fused training ops (nn/fused_ops.h) and the
// fused AdamW step (train/fused_adamw.h): each reads and writes its tensors
// once where LibTorch 1.13 runs a chain of separate element-wise passes.
// Torch-free, over raw contiguous arrays; the callers check shapes, split
// the work across threads and wrap the loops as autograd nodes. On x86-64
// each loop is compiled for AVX-512, AVX2+FMA and baseline SSE2 and picked
// at load time.
//
//   loom::kernels::silu_mul(gate, up, out, n);        // out = silu(gate) * up
//   double loss = loom::kernels::softmax_cross_entropy_rows(logits, labels, rows, vocab);
#pragma once
#include <cstdint>

namespace loom::kernels {

// out[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g).
template <typename T>
void silu_mul(const T* gate, const T* up, T* out, int64_t n);
// The gradients of silu(gate) * up for the output gradient dout, in one pass.
template <typename T>
void silu_mul_backward(const T* gate, const T* up, const T* dout, T* dgate, T* dup, int64_t n);

// Rotary embedding in the rotate-half convention over x [rows, heads, dim]
// with per-row tables cos, sin [rows, dim]:
//   out[j]       = x[j] cos[j]             - x[j+dim/2] sin[j]
//   out[j+dim/2] = x[j+dim/2] cos[j+dim/2] + x[j] sin[j+dim/2]
// `transpose` applies the transposed rotation (the backward pass).
template <typename T>
void rope_rotate(const T* x, const T* cos, const T* sin, T* out, int64_t rows, int64_t heads, int64_t dim,
                 bool transpose);

// Cross-entropy over rows of logits [rows, vocab] against labels in
// [0, vocab): returns the sum of the row losses (logsumexp - logit[label])
// and, in place, leaves the loss's gradient per row, softmax - onehot(label).
// A NaN logit makes its row's loss NaN.
template <typename T>
double softmax_cross_entropy_rows(T* logits, const int64_t* labels, int64_t rows, int64_t vocab);
// The same losses without the gradient; logits are left unchanged.
template <typename T>
double cross_entropy_rows(const T* logits, const int64_t* labels, int64_t rows, int64_t vocab);

// One AdamW step for n elements, in torch.optim.AdamW's order of operations:
//   p = p * decay;  m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p = p - step_size * m / (sqrt(v) / sqrt_bias_correction2 + eps)
struct AdamWScalars {
  float decay;  // 1 - lr * weight_decay
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float sqrt_bias_correction2;  // sqrt(1 - beta2^step)
  float eps;
  float step_size;  // lr / (1 - beta1^step)
};
void adamw_update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamWScalars& s);

}  // namespace loom::kernels
