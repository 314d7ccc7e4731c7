// RMSNorm as one autograd node with a hand-written backward: LibTorch 1.13
// runs it as a chain of five small ops, each saving its own temporaries.
// Checked against the plain composition and by finite differences
// (tests/model/test_fused_ops.cpp). A fused SwiGLU was tried and measured
// slower than LibTorch's own vectorised silu kernels, so it is not here.
#pragma once
#include <torch/types.h>

namespace loom {

// weight * x / sqrt(mean(x^2, -1) + eps)
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

}  // namespace loom
