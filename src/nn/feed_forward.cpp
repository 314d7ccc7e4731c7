#include "loom/nn/feed_forward.h"

#include "loom/nn/fused_ops.h"

namespace loom {

SwiGluImpl::SwiGluImpl(int64_t hidden_size, int64_t intermediate_size) {
  gate_proj = register_module("gate_proj", Linear(hidden_size, intermediate_size));
  up_proj = register_module("up_proj", Linear(hidden_size, intermediate_size));
  down_proj = register_module("down_proj", Linear(intermediate_size, hidden_size));
}

torch::Tensor SwiGluImpl::forward(const torch::Tensor& x, ForwardRecord*) {
  auto gate = gate_proj(x), up = up_proj(x);
  return down_proj(swiglu_as_configured(gate, up));
}

}  // namespace loom
