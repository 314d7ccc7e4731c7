// A bias-free or biased linear layer, y = x Wᵀ (+ b), whose output an
// attached extension may change: LoRA adds a low-rank path (adapters/lora.h),
// a mixture of expert projections replaces it (MoE). Models build their
// projections from this layer, so any of them can be adapted by name, in any
// model family, without the family knowing about adapters.
//
//   loom::Linear proj(512, 2048);
//   auto y = proj(x);                       // x Wᵀ
//   proj->set_extension(std::make_shared<MyExtension>(...));
//   auto z = proj(x);                       // MyExtension::forward(proj, x, x Wᵀ)
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>
#include <string>

namespace loom {

class LinearImpl;

// Something attached to a Linear that changes its output. Extensions that
// own parameters register them on the host module (so that they appear under
// the host's name, e.g. `q_proj.lora_A.weight`) and remove them on detach.
class LinearExtension {
 public:
  virtual ~LinearExtension() = default;
  // `base` is x Wᵀ (+ b); the result replaces the layer's output.
  virtual torch::Tensor forward(LinearImpl& host, const torch::Tensor& x, const torch::Tensor& base) = 0;
  // A short name for errors and listings ("lora").
  virtual std::string kind() const = 0;
  // True when forward() computes the whole output itself (a mixture of
  // expert projections): the host then skips x Wᵀ and passes an undefined base.
  virtual bool replaces_output() const { return false; }
};

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias = false);
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }
  LinearExtension* extension() const { return extension_.get(); }
  const std::shared_ptr<LinearExtension>& extension_ptr() const { return extension_; }
  // Attaches (or, with nullptr, removes) the extension.
  void set_extension(std::shared_ptr<LinearExtension> extension) { extension_ = std::move(extension); }

  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out], undefined when the layer has none

 private:
  std::shared_ptr<LinearExtension> extension_;
};
TORCH_MODULE(Linear);

}  // namespace loom
