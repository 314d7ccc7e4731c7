// Variable-length attention: each segment of a packed token stream attends
// only to its own earlier tokens (causal, for decoders) or to all of its own
// tokens (causal = false, for encoders). The interface follows flash-attn's
// `flash_attn_varlen_func` (including its `causal` flag), so a CUDA kernel
// can sit behind it later.
//
//   q: [total_tokens, heads, head_dim], k/v: [total_tokens, kv_heads, head_dim]
//   cu_seqlens: int32 [segments + 1], cumulative segment lengths starting at 0
//   auto out = loom::varlen_attention(q, k, v, cu_seqlens, max_seqlen);
//   auto enc = loom::varlen_attention(q, k, v, cu_seqlens, max_seqlen, /*causal=*/false);
//
// Cost is O(sum L_i^2 * d) over segments, not O(T^2) over the stream. Work is
// split over segments x kv-heads. The forward keeps only the per-row
// log-sum-exp; the backward recomputes the probabilities (as flash attention
// does), so memory stays O(T * heads).
#pragma once
#include <torch/types.h>

namespace loom {

torch::Tensor varlen_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& cu_seqlens, int64_t max_seqlen, bool causal = true);

// The test reference: one dense [T, T] block-diagonal (causal) mask, plain
// autograd ops. Exact, but O(T^2) time and memory.
torch::Tensor dense_masked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& cu_seqlens, bool causal = true);

// Attention of `q` (new tokens at positions past..past+n-1) over a KV cache
// holding positions 0..past+n-1; used by generation.
torch::Tensor cached_attention(const torch::Tensor& q, const torch::Tensor& k_all, const torch::Tensor& v_all);

}  // namespace loom
