// The seam between a decoder layer and its feed-forward block: a dense
// SwiGLU today (Llama's MLP), a mixture of experts or an elastic-width block
// next. A layer holds any FeedForwardImpl; the block may record side outputs
// (router logits for a load-balancing loss) in the forward's record.
//
//   std::shared_ptr<loom::FeedForwardImpl> mlp = std::make_shared<loom::SwiGluImpl>(hidden, inner);
//   auto y = mlp->forward(x, /*record=*/nullptr);
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loom/nn/linear.h"

namespace loom {

// Side outputs of one forward pass that losses may need. Layers fill only
// what was asked for (keep_layer_hidden) or what they produce (routers).
struct ForwardRecord {
  bool keep_layer_hidden = false;
  std::vector<torch::Tensor> layer_hidden;   // hidden state after each decoder layer, [T, hidden]
  std::vector<torch::Tensor> router_logits;  // per routed block, in layer order: [T, experts]
  std::map<std::string, torch::Tensor> extra;
};

class FeedForwardImpl : public torch::nn::Module {
 public:
  // x: [T, hidden] -> [T, hidden]. `record` may be null.
  virtual torch::Tensor forward(const torch::Tensor& x, ForwardRecord* record) = 0;
};

// down(silu(gate(x)) * up(x)): Llama's MLP, with Hugging Face's names.
class SwiGluImpl : public FeedForwardImpl {
 public:
  SwiGluImpl(int64_t hidden_size, int64_t intermediate_size);
  torch::Tensor forward(const torch::Tensor& x, ForwardRecord* record = nullptr) override;
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};

}  // namespace loom
