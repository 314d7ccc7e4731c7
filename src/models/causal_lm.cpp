#include "loom/models/causal_lm.h"

#include <torch/torch.h>

#include "loom/core/collate.h"
#include "loom/nn/fused_ops.h"

namespace loom {

torch::Tensor lm_loss_sum(const torch::Tensor& hidden, const torch::Tensor& output_weight,
                          const torch::Tensor& labels) {
  auto keep = labels.ne(kIgnoreLabel).nonzero().squeeze(1);
  if (keep.numel() == 0) return hidden.sum() * 0.0;
  if (fused_ops().cross_entropy)
    return cross_entropy_sum(hidden.index_select(0, keep), output_weight, labels.index_select(0, keep));
  auto logits = torch::matmul(hidden.index_select(0, keep), output_weight.t());
  return torch::nn::functional::cross_entropy(logits, labels.index_select(0, keep),
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

torch::Tensor CausalLMImpl::forward(const BatchTensors& batch) {
  return torch::matmul(forward_hidden(batch).hidden, output_weight().t());
}

torch::Tensor CausalLMImpl::loss_sum(const BatchTensors& batch) {
  return lm_loss_sum(forward_hidden(batch).hidden, output_weight(), batch.labels);
}

}  // namespace loom
