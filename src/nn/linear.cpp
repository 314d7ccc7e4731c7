#include "loom/nn/linear.h"

#include <torch/nn/functional/linear.h>

namespace loom {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out_features}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  if (extension_ && extension_->replaces_output()) return extension_->forward(*this, x, torch::Tensor());
  auto y = torch::nn::functional::linear(x, weight, bias);
  return extension_ ? extension_->forward(*this, x, y) : y;
}

}  // namespace loom
