#include "loom/nn/fused_ops.h"

#include <torch/torch.h>

namespace loom {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

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

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  return RmsNormFunction::apply(x, weight, eps);
}

}  // namespace loom
