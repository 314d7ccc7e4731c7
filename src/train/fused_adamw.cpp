#include "loom/train/fused_adamw.h"

#include <ATen/Parallel.h>
#include <c10/util/string_utils.h>
#include <torch/torch.h>

#include <cmath>

#include "loom/core/error.h"
#include "loom/nn/fused_kernels.h"

namespace loom {

void fused_adamw_step(torch::optim::AdamW& optimizer) {
  torch::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups()) {
    auto& options = static_cast<torch::optim::AdamWOptions&>(group.options());
    if (options.amsgrad()) throw Error("fused AdamW: amsgrad is not implemented (set fused_adamw: false)");
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto& grad = p.grad();
      if (grad.is_sparse()) throw Error("fused AdamW: sparse gradients are not supported");
      // The state key and layout of AdamW::step, so that either step and
      // torch::save/load see the same state.
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto& states = optimizer.state();
      auto it = states.find(key);
      if (it == states.end()) {
        auto state = std::make_unique<torch::optim::AdamWParamState>();
        state->step(0);
        state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = states.emplace(key, std::move(state)).first;
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*it->second);
      state.step(state.step() + 1);
      const auto [beta1, beta2] = options.betas();
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(state.step()));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(state.step()));
      const kernels::AdamWScalars s{static_cast<float>(1 - options.lr() * options.weight_decay()),
                                    static_cast<float>(beta1),
                                    static_cast<float>(1 - beta1),
                                    static_cast<float>(beta2),
                                    static_cast<float>(1 - beta2),
                                    static_cast<float>(std::sqrt(bias_correction2)),
                                    static_cast<float>(options.eps()),
                                    static_cast<float>(options.lr() / bias_correction1)};
      auto& exp_avg = state.exp_avg();
      auto& exp_avg_sq = state.exp_avg_sq();
      if (exp_avg.sizes() != p.sizes() || exp_avg_sq.sizes() != p.sizes())
        throw Error("fused AdamW: optimizer state of a parameter " + c10::str(p.sizes()) + " has another shape");
      const bool fits_kernel = p.device().is_cpu() && p.scalar_type() == torch::kFloat &&
                               grad.scalar_type() == torch::kFloat && exp_avg.scalar_type() == torch::kFloat &&
                               exp_avg_sq.scalar_type() == torch::kFloat && p.is_contiguous() && grad.is_contiguous() &&
                               exp_avg.is_contiguous() && exp_avg_sq.is_contiguous();
      if (!fits_kernel) {  // the same update in LibTorch's passes
        p.mul_(s.decay);
        exp_avg.mul_(beta1).add_(grad, 1 - beta1);
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
        p.addcdiv_(exp_avg, (exp_avg_sq.sqrt() / s.sqrt_bias_correction2).add_(options.eps()), -s.step_size);
        continue;
      }
      float *param = p.data_ptr<float>(), *m = exp_avg.data_ptr<float>(), *v = exp_avg_sq.data_ptr<float>();
      const float* g = grad.data_ptr<float>();
      at::parallel_for(0, p.numel(), 1 << 16,
                       [&](int64_t b, int64_t e) { kernels::adamw_update(param + b, g + b, m + b, v + b, e - b, s); });
    }
  }
}

}  // namespace loom
