#include "loom/nn/fused_ops.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <atomic>

#include "loom/core/error.h"
#include "loom/nn/fused_kernels.h"

namespace loom {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::atomic<bool> g_fused_cross_entropy{true}, g_fused_swiglu{true}, g_fused_rope{true};

// The element type the kernels take: float or double on the CPU, else none.
bool kernel_dtype(const torch::Tensor& t) {
  return t.device().is_cpu() && (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble);
}

// Runs body(begin, end) over [0, n) on LibTorch's threads, in pieces of at
// least `grain` (one piece with one thread).
template <typename Body>
void parallel_ranges(int64_t n, int64_t grain, const Body& body) {
  at::parallel_for(0, n, grain, body);
}

constexpr int64_t kElementGrain = 1 << 15;

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight, double eps) {
    auto rstd = torch::rsqrt(x.square().mean(-1, /*keepdim=*/true).add_(eps));
    auto normed = x * rstd;
    ctx->save_for_backward({normed, rstd, weight});
    return normed * weight;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &normed = saved[0], &rstd = saved[1], &weight = saved[2];
    const auto& dy = grads[0];
    auto dnormed = dy * weight;
    // d/dx of x * rstd: rstd * (g - normed * mean(g * normed)).
    auto dx = (dnormed - normed * (dnormed * normed).mean(-1, /*keepdim=*/true)).mul_(rstd);
    auto dweight = (dy * normed).reshape({-1, weight.size(0)}).sum(0);
    return {dx, dweight, torch::Tensor()};
  }
};

class SwiGluFunction : public torch::autograd::Function<SwiGluFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor gate, torch::Tensor up) {
    gate = gate.contiguous();
    up = up.contiguous();
    auto out = torch::empty_like(gate);
    AT_DISPATCH_FLOATING_TYPES(gate.scalar_type(), "swiglu", [&] {
      const scalar_t *g = gate.data_ptr<scalar_t>(), *u = up.data_ptr<scalar_t>();
      scalar_t* o = out.data_ptr<scalar_t>();
      parallel_ranges(gate.numel(), kElementGrain,
                      [&](int64_t b, int64_t e) { kernels::silu_mul(g + b, u + b, o + b, e - b); });
    });
    ctx->save_for_backward({gate, up});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &gate = saved[0], &up = saved[1];
    auto dout = grads[0].contiguous();
    auto dgate = torch::empty_like(gate), dup = torch::empty_like(up);
    AT_DISPATCH_FLOATING_TYPES(gate.scalar_type(), "swiglu_backward", [&] {
      const scalar_t *g = gate.data_ptr<scalar_t>(), *u = up.data_ptr<scalar_t>(), *d = dout.data_ptr<scalar_t>();
      scalar_t *dg = dgate.data_ptr<scalar_t>(), *du = dup.data_ptr<scalar_t>();
      parallel_ranges(gate.numel(), kElementGrain, [&](int64_t b, int64_t e) {
        kernels::silu_mul_backward(g + b, u + b, d + b, dg + b, du + b, e - b);
      });
    });
    return {dgate, dup};
  }
};

// The rotation of x [T, H, D] by tables [T, D]; `transpose` for backward.
torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, bool transpose) {
  auto out = torch::empty_like(x);
  const int64_t T = x.size(0), H = x.size(1), D = x.size(2);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rope_rotate", [&] {
    const scalar_t *xp = x.data_ptr<scalar_t>(), *c = cos.data_ptr<scalar_t>(), *s = sin.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    parallel_ranges(T, std::max<int64_t>(1, kElementGrain / (H * D)), [&](int64_t b, int64_t e) {
      kernels::rope_rotate(xp + b * H * D, c + b * D, s + b * D, o + b * H * D, e - b, H, D, transpose);
    });
  });
  return out;
}

class RopeFunction : public torch::autograd::Function<RopeFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return rotate(x, cos, sin, /*transpose=*/false);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    return {rotate(grads[0].contiguous(), saved[0], saved[1], /*transpose=*/true), torch::Tensor(), torch::Tensor()};
  }
};

// Rows per chunk: about 2M logits (8 MB in float), and at least 128 rows so
// that the chunk's matmuls stay large enough for BLAS to run near its peak.
int64_t resolve_chunk_rows(int64_t chunk_rows, int64_t vocab) {
  if (chunk_rows > 0) return chunk_rows;
  return std::max<int64_t>(128, (int64_t{1} << 21) / std::max<int64_t>(vocab, 1));
}

// Σ row losses of logits [R, V] (in place: their gradients, when `grad`).
double chunk_losses(torch::Tensor& logits, const torch::Tensor& labels, bool grad) {
  const int64_t R = logits.size(0), V = logits.size(1);
  const int64_t* y = labels.data_ptr<int64_t>();
  return AT_DISPATCH_FLOATING_TYPES(logits.scalar_type(), "cross_entropy_rows", [&] {
    scalar_t* l = logits.data_ptr<scalar_t>();
    return at::parallel_reduce(
        0, R, std::max<int64_t>(1, kElementGrain / V), 0.0,
        [&](int64_t b, int64_t e, double acc) {
          return acc + (grad ? kernels::softmax_cross_entropy_rows(l + b * V, y + b, e - b, V)
                             : kernels::cross_entropy_rows(l + b * V, y + b, e - b, V));
        },
        [](double a, double b) { return a + b; });
  });
}

class ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& labels, int64_t chunk_rows, bool grad_hidden, bool grad_weight) {
    const int64_t N = hidden.size(0), V = weight.size(0);
    const bool grad = grad_hidden || grad_weight;
    auto dhidden = grad_hidden ? torch::empty_like(hidden) : torch::Tensor();
    auto dweight = grad_weight ? torch::zeros_like(weight) : torch::Tensor();
    auto buffer = torch::empty({std::min(chunk_rows, N), V}, hidden.options());
    double total = 0;
    for (int64_t r0 = 0; r0 < N; r0 += chunk_rows) {
      const int64_t R = std::min(chunk_rows, N - r0);
      auto h = hidden.narrow(0, r0, R);
      auto logits = buffer.narrow(0, 0, R);
      torch::mm_out(logits, h, weight.t());
      total += chunk_losses(logits, labels.narrow(0, r0, R), grad);
      // logits now hold d loss / d logits = softmax - onehot.
      if (grad_hidden) {
        auto dh = dhidden.narrow(0, r0, R);
        torch::mm_out(dh, logits, weight);
      }
      if (grad_weight) dweight.addmm_(logits.t(), h);
    }
    ctx->save_for_backward({dhidden, dweight});
    return torch::full({}, total, hidden.options());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& g = grads[0];
    return {saved[0].defined() ? saved[0] * g : torch::Tensor(),
            saved[1].defined() ? saved[1] * g : torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

void set_fused_ops(const FusedOps& ops) {
  g_fused_cross_entropy = ops.cross_entropy;
  g_fused_swiglu = ops.swiglu;
  g_fused_rope = ops.rope;
}

FusedOps fused_ops() { return {g_fused_cross_entropy.load(), g_fused_swiglu.load(), g_fused_rope.load()}; }

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  return RmsNormFunction::apply(x, weight, eps);
}

torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up) {
  if (gate.sizes() != up.sizes())
    throw Error("swiglu: gate" + c10::str(gate.sizes()) + " and up" + c10::str(up.sizes()) + " differ in shape");
  if (!kernel_dtype(gate) || gate.scalar_type() != up.scalar_type()) return torch::silu(gate) * up;
  return SwiGluFunction::apply(gate, up);
}

torch::Tensor rope_rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  if (x.dim() != 3 || cos.sizes() != sin.sizes() || cos.numel() != x.size(0) * x.size(2) || cos.size(0) != x.size(0) ||
      x.size(2) % 2 != 0)
    throw Error("rope_rotate: x must be [T, heads, even head_dim] and cos, sin [T, 1, head_dim]; got x" +
                c10::str(x.sizes()) + " cos" + c10::str(cos.sizes()) + " sin" + c10::str(sin.sizes()));
  if (!kernel_dtype(x) || cos.scalar_type() != x.scalar_type() || sin.scalar_type() != x.scalar_type() ||
      cos.requires_grad() || sin.requires_grad()) {
    const int64_t half = x.size(-1) / 2;
    return x * cos + torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1) * sin;
  }
  return RopeFunction::apply(x.contiguous(), cos.contiguous(), sin.contiguous());
}

torch::Tensor cross_entropy_sum(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& labels,
                                int64_t chunk_rows) {
  if (hidden.dim() != 2 || weight.dim() != 2 || hidden.size(1) != weight.size(1) || labels.dim() != 1 ||
      labels.size(0) != hidden.size(0))
    throw Error("cross_entropy_sum: expected hidden [N, d], weight [vocab, d], labels [N]; got hidden" +
                c10::str(hidden.sizes()) + " weight" + c10::str(weight.sizes()) + " labels" + c10::str(labels.sizes()));
  const int64_t V = weight.size(0);
  auto y = labels.to(torch::kLong).contiguous();
  if (y.numel() > 0 && (y.min().item<int64_t>() < 0 || y.max().item<int64_t>() >= V))
    throw Error("cross_entropy_sum: label " +
                std::to_string(y.min().item<int64_t>() < 0 ? y.min().item<int64_t>() : y.max().item<int64_t>()) +
                " is outside the vocabulary of " + std::to_string(V));
  if (!kernel_dtype(hidden) || weight.scalar_type() != hidden.scalar_type())
    return torch::nn::functional::cross_entropy(
        torch::matmul(hidden, weight.t()), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  const bool grad = torch::GradMode::is_enabled();
  return ChunkedCrossEntropy::apply(hidden.contiguous(), weight.contiguous(), y, resolve_chunk_rows(chunk_rows, V),
                                    grad && hidden.requires_grad(), grad && weight.requires_grad());
}

torch::Tensor swiglu_as_configured(const torch::Tensor& gate, const torch::Tensor& up) {
  return fused_ops().swiglu ? swiglu(gate, up) : torch::silu(gate) * up;
}

}  // namespace loom
