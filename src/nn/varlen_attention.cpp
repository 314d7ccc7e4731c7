#include "loom/nn/varlen_attention.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"

namespace loom {
namespace {

using torch::indexing::Slice;

void check_inputs(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                  const torch::Tensor& cu_seqlens) {
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3)
    throw Error("varlen_attention: q, k, v must be [tokens, heads, head_dim]");
  if (k.sizes() != v.sizes() || q.size(0) != k.size(0) || q.size(2) != k.size(2))
    throw Error("varlen_attention: shape mismatch q" + c10::str(q.sizes()) + " k" + c10::str(k.sizes()) + " v" +
                c10::str(v.sizes()));
  if (q.size(1) % k.size(1) != 0)
    throw Error("varlen_attention: " + std::to_string(q.size(1)) + " query heads is not a multiple of " +
                std::to_string(k.size(1)) + " kv heads");
  if (cu_seqlens.scalar_type() != torch::kInt32 || cu_seqlens.dim() != 1 || cu_seqlens.size(0) < 2)
    throw Error("varlen_attention: cu_seqlens must be int32 [segments + 1]");
  auto cu = cu_seqlens.accessor<int32_t, 1>();
  if (cu[0] != 0 || cu[cu.size(0) - 1] != q.size(0))
    throw Error("varlen_attention: cu_seqlens must run from 0 to the token count " + std::to_string(q.size(0)));
  for (int64_t s = 0; s + 1 < cu.size(0); ++s)
    if (cu[s + 1] <= cu[s]) throw Error("varlen_attention: cu_seqlens must be strictly increasing");
}

// Runs body(segment) for every segment. With several threads and enough
// segments, LibTorch's threads take whole segments and each BLAS call stays
// single-threaded (OpenBLAS would otherwise start its own threads inside every
// worker and oversubscribe the cores); otherwise segments run in turn and
// BLAS parallelises each one.
template <typename Body>
void for_each_segment(int64_t segments, const Body& body) {
  if (at::get_num_threads() > 1 && segments >= at::get_num_threads()) {
    ScopedSingleThreadedBlas single;
    at::parallel_for(0, segments, 1, [&](int64_t begin, int64_t end) {
      torch::NoGradGuard no_grad;
      for (int64_t s = begin; s < end; ++s) body(s);
    });
  } else {
    torch::NoGradGuard no_grad;
    for (int64_t s = 0; s < segments; ++s) body(s);
  }
}

// Per segment, the heads sharing a kv head are stacked so that every matmul is
// one batched call over kv heads: q [L, H, D] -> [Hkv, group*L, D].
torch::Tensor group_queries(const torch::Tensor& q_seg, int64_t kv_heads) {
  const int64_t L = q_seg.size(0), H = q_seg.size(1), D = q_seg.size(2);
  return q_seg.view({L, kv_heads, H / kv_heads, D}).permute({1, 2, 0, 3}).reshape({kv_heads, H / kv_heads * L, D});
}

// The inverse of group_queries, written into out_seg [L, H, D].
void ungroup_into(const torch::Tensor& grouped, torch::Tensor out_seg) {
  const int64_t L = out_seg.size(0), H = out_seg.size(1), D = out_seg.size(2), kv = grouped.size(0);
  out_seg.view({L, kv, H / kv, D}).copy_(grouped.view({kv, H / kv, L, D}).permute({2, 0, 1, 3}));
}

// Scaled scores with the causal mask folded in by one baddbmm:
// S = mask + scale * Q K^T, shape [Hkv, group*L, L].
torch::Tensor masked_scores(const torch::Tensor& qg, const torch::Tensor& kt, const torch::Tensor& mask, double scale) {
  return torch::baddbmm(mask, qg, kt, /*beta=*/1.0, /*alpha=*/scale);
}

// Additive mask [group*L, L]: causal, 0 on and below the diagonal and -inf
// above; bidirectional (encoders), all 0.
torch::Tensor attention_mask(int64_t L, int64_t group, bool causal, const torch::TensorOptions& options) {
  if (!causal) return torch::zeros({group * L, L}, options);
  auto m = torch::full({L, L}, -std::numeric_limits<float>::infinity(), options).triu_(1);
  return m.repeat({group, 1});
}

struct SegmentView {
  int64_t begin, length;
};

class VarlenAttention : public torch::autograd::Function<VarlenAttention> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor q, torch::Tensor k, torch::Tensor v,
                               torch::Tensor cu_seqlens, int64_t /*max_seqlen*/, bool causal) {
    ctx->saved_data["causal"] = causal;
    q = q.contiguous();
    k = k.contiguous();
    v = v.contiguous();
    const int64_t H = q.size(1), kv = k.size(1), group = H / kv;
    const int64_t segments = cu_seqlens.size(0) - 1;
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
    auto out = torch::empty_like(q);
    // Row log-sum-exp, stored segment by segment in [Hkv, group*L] order.
    auto lse = torch::empty({q.size(0) * H}, q.options());
    const int32_t* cu = cu_seqlens.data_ptr<int32_t>();
    for_each_segment(segments, [&](int64_t s) {
      const int64_t b = cu[s], L = cu[s + 1] - cu[s];
      auto qg = group_queries(q.narrow(0, b, L), kv);
      auto kt = k.narrow(0, b, L).permute({1, 2, 0});  // [Hkv, D, L]
      auto vs = v.narrow(0, b, L).transpose(0, 1);     // [Hkv, L, D]
      auto scores = masked_scores(qg, kt, attention_mask(L, group, causal, q.options()), scale);
      auto p = torch::softmax(scores, -1);
      // log-sum-exp from the softmax without another exp pass: at each row's
      // maximum, p = exp(max - lse) >= 1/L, so the log never sees zero.
      auto row_lse = std::get<0>(scores.max(-1)) - torch::log(std::get<0>(p.max(-1)));
      ungroup_into(torch::bmm(p, vs), out.narrow(0, b, L));
      lse.narrow(0, b * H, L * H).copy_(row_lse.reshape({-1}));
    });
    ctx->save_for_backward({q, k, v, out, lse, cu_seqlens});
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto q = saved[0], k = saved[1], v = saved[2], out = saved[3], lse = saved[4], cu_seqlens = saved[5];
    auto dout = grads[0].contiguous();
    const bool causal = ctx->saved_data["causal"].toBool();
    const int64_t H = q.size(1), kv = k.size(1), group = H / kv;
    const int64_t segments = cu_seqlens.size(0) - 1;
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
    auto dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
    // delta_i = rowsum(dO * O): the softmax Jacobian's correction term.
    auto delta = (dout * out).sum(2, /*keepdim=*/true);  // [T, H, 1]
    const int32_t* cu = cu_seqlens.data_ptr<int32_t>();
    for_each_segment(segments, [&](int64_t s) {
      const int64_t b = cu[s], L = cu[s + 1] - cu[s];
      auto qg = group_queries(q.narrow(0, b, L), kv);
      auto dog = group_queries(dout.narrow(0, b, L), kv);
      auto deltag = group_queries(delta.narrow(0, b, L), kv);  // [Hkv, group*L, 1]
      auto ks = k.narrow(0, b, L).transpose(0, 1);             // [Hkv, L, D]
      auto vs = v.narrow(0, b, L).transpose(0, 1);
      auto p = masked_scores(qg, ks.transpose(1, 2), attention_mask(L, group, causal, q.options()), scale)
                   .sub_(lse.narrow(0, b * H, L * H).view({kv, group * L, 1}))
                   .exp_();
      dv.narrow(0, b, L).copy_(torch::bmm(p.transpose(1, 2), dog).transpose(0, 1));
      auto ds = torch::bmm(dog, vs.transpose(1, 2)).sub_(deltag).mul_(p).mul_(scale);
      ungroup_into(torch::bmm(ds, ks), dq.narrow(0, b, L));
      dk.narrow(0, b, L).copy_(torch::bmm(ds.transpose(1, 2), qg).transpose(0, 1));
    });
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor varlen_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& cu_seqlens, int64_t max_seqlen, bool causal) {
  check_inputs(q, k, v, cu_seqlens);
  auto cu = cu_seqlens.accessor<int32_t, 1>();
  int64_t longest = 0;
  for (int64_t s = 0; s + 1 < cu.size(0); ++s) longest = std::max<int64_t>(longest, cu[s + 1] - cu[s]);
  if (max_seqlen < longest)
    throw Error("varlen_attention: max_seqlen " + std::to_string(max_seqlen) + " is below the longest segment (" +
                std::to_string(longest) + ")");
  return VarlenAttention::apply(q, k, v, cu_seqlens, longest, causal);
}

torch::Tensor dense_masked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& cu_seqlens, bool causal) {
  check_inputs(q, k, v, cu_seqlens);
  const int64_t T = q.size(0), group = q.size(1) / k.size(1);
  auto segment = torch::empty({T}, torch::kLong);
  auto cu = cu_seqlens.accessor<int32_t, 1>();
  for (int64_t s = 0; s + 1 < cu.size(0); ++s) segment.index_put_({Slice(cu[s], cu[s + 1])}, s);
  auto pos = torch::arange(T);
  auto allowed = segment.unsqueeze(1).eq(segment.unsqueeze(0));
  if (causal) allowed = allowed.logical_and(pos.unsqueeze(1).ge(pos.unsqueeze(0)));
  auto kk = k.repeat_interleave(group, 1).transpose(0, 1);  // [H, T, D]
  auto vv = v.repeat_interleave(group, 1).transpose(0, 1);
  auto qq = q.transpose(0, 1);
  auto s = torch::matmul(qq, kk.transpose(1, 2)) / std::sqrt(static_cast<double>(q.size(2)));
  s = s.masked_fill(allowed.logical_not().unsqueeze(0), -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(s, -1), vv).transpose(0, 1);
}

torch::Tensor cached_attention(const torch::Tensor& q, const torch::Tensor& k_all, const torch::Tensor& v_all) {
  const int64_t n = q.size(0), total = k_all.size(0), group = q.size(1) / k_all.size(1);
  auto kk = k_all.repeat_interleave(group, 1).transpose(0, 1);
  auto vv = v_all.repeat_interleave(group, 1).transpose(0, 1);
  auto s = torch::matmul(q.transpose(0, 1), kk.transpose(1, 2)) / std::sqrt(static_cast<double>(q.size(2)));
  if (n > 1) {
    auto qpos = torch::arange(total - n, total).unsqueeze(1);
    auto kpos = torch::arange(total).unsqueeze(0);
    s = s.masked_fill(kpos.gt(qpos).unsqueeze(0), -std::numeric_limits<float>::infinity());
  }
  return torch::matmul(torch::softmax(s, -1), vv).transpose(0, 1);
}

}  // namespace loom
