// torch::optim::AdamW's step as one pass per parameter tensor: for every
// element, the decoupled weight decay, both moment updates and the bias-
// corrected step are done while the element is in registers, where LibTorch
// 1.13 runs about nine separate passes over parameters, gradients and moments.
// The state lives in the optimizer itself (the same keys, step counts and
// moment tensors as its own step), so checkpoints save and load it unchanged
// and the two steps can be mixed. Same semantics as torch.optim.AdamW
// (amsgrad=false): decoupled weight decay p *= 1 - lr*wd, bias correction of
// both moments, eps added after the square root's correction. Float order
// differs from LibTorch's kernels by at most an ulp or so per step
// (tests/train/test_fused_adamw.cpp).
//
//   torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-3).weight_decay(0.1));
//   loss.backward();
//   loom::fused_adamw_step(opt);   // instead of opt.step()
#pragma once

namespace torch::optim {
class AdamW;
}

namespace loom {

// Parameters without a gradient are skipped, as AdamW::step does; tensors
// that are not contiguous float32 on the CPU take LibTorch's passes. Throws
// loom::Error for amsgrad and sparse gradients.
void fused_adamw_step(torch::optim::AdamW& optimizer);

}  // namespace loom
