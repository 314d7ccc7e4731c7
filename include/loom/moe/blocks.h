// The three kinds of mixture a model can hold, all routed by a Gate and run
// through the sparse dispatch of moe/routing.h:
//
//   SparseMoeBlock      whole-SwiGLU experts in place of a decoder layer's MLP
//                       (a FeedForwardImpl; Mixtral's names: block_sparse_moe.gate,
//                       experts.E.w1/w2/w3)
//   ProjectionMixture   experts of one linear layer (q/k/v, gate/up/down):
//                       the host layer's own weight is expert 0, experts 1..N-1
//                       live beside it (`q_proj_moe.experts.E.weight`), each
//                       module has its own router (`q_proj_moe.router`)
//   AdapterBlend        LoRA experts on a frozen linear layer: W₀x + Σ g_i s_i B_i A_i x
//                       (`q_proj_blend.adapters.E.lora_A.weight`, `.router`)
//
// Projection mixtures and blends attach to their loom::Linear as extensions
// (nn/linear.h) and keep their parameters in a sibling module, so that the
// model directory (model_state) stores them with the model.
//
//   auto ctx = std::make_shared<loom::RoutingContext>();
//   loom::SparseMoeBlock block(hidden, inner, moe_config, ctx);
//   auto y = block->forward(x, &record);     // record.router_logits gets [T, N]
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "loom/moe/moe_config.h"
#include "loom/moe/router.h"
#include "loom/moe/routing.h"
#include "loom/nn/feed_forward.h"
#include "loom/nn/linear.h"

namespace loom {

// State a model's routed modules share during one forward pass.
struct RoutingContext {
  torch::Tensor global_logits;  // [T, R]: one router on the embeddings serves every module
  bool record = false;          // record each routed module's logits (for the load-balancing loss)
  std::vector<torch::Tensor> recorded;
};

// Routing of one routed module: its router (none when gate-less or global)
// and the variant (top-k, always-on, normalisation) from the MoeConfig.
class Gate {
 public:
  Gate(const MoeConfig& config, std::shared_ptr<RouterImpl> router, std::shared_ptr<RoutingContext> context);
  // Which experts each row of x uses, and their weights.
  Routing decide(const torch::Tensor& x, ForwardRecord* record = nullptr) const;
  int64_t num_experts() const { return config_.num_experts; }

 private:
  MoeConfig config_;
  std::shared_ptr<RouterImpl> router_;
  std::shared_ptr<RoutingContext> context_;
};

// The per-layer router of `config` for inputs of width `in`, or null (gate-less, global).
std::shared_ptr<RouterImpl> make_module_router(const MoeConfig& config, int64_t in);

// One SwiGLU expert, with Mixtral's names: w2(silu(w1 x) * w3 x).
class MixtralExpertImpl : public torch::nn::Module {
 public:
  MixtralExpertImpl(int64_t hidden_size, int64_t intermediate_size);
  torch::Tensor forward(const torch::Tensor& x);
  Linear w1{nullptr}, w2{nullptr}, w3{nullptr};
};
TORCH_MODULE(MixtralExpert);

class SparseMoeBlockImpl : public FeedForwardImpl {
 public:
  SparseMoeBlockImpl(int64_t hidden_size, int64_t intermediate_size, const MoeConfig& config,
                     std::shared_ptr<RoutingContext> context);
  torch::Tensor forward(const torch::Tensor& x, ForwardRecord* record = nullptr) override;
  MixtralExpertImpl& expert(int64_t e);
  std::shared_ptr<RouterImpl> gate;  // null: gate-less or global router
  torch::nn::ModuleList experts{nullptr};

 private:
  std::unique_ptr<Gate> routing_;
  int64_t hidden_size_;
};
TORCH_MODULE(SparseMoeBlock);

// A parameter-only module ("weight"), for the experts and factors of mixtures.
class WeightImpl : public torch::nn::Module {
 public:
  explicit WeightImpl(std::vector<int64_t> shape);
  torch::Tensor weight;
};
TORCH_MODULE(Weight);

class ProjectionMixtureImpl : public torch::nn::Module {
 public:
  // Experts 1..N-1 of a [out, in] projection (expert 0 is the host's weight).
  ProjectionMixtureImpl(int64_t in_features, int64_t out_features, const MoeConfig& config,
                        std::shared_ptr<RoutingContext> context);
  torch::Tensor forward(const torch::Tensor& host_weight, const torch::Tensor& x);
  // Expert e's weight (e >= 1).
  torch::Tensor& expert_weight(int64_t e);
  std::shared_ptr<RouterImpl> router;  // null: gate-less or global router

 private:
  std::unique_ptr<Gate> routing_;
  int64_t num_experts_;
  bool gateless_;
  std::vector<Weight> weights_;
};
TORCH_MODULE(ProjectionMixture);

class AdapterBlendImpl : public torch::nn::Module {
 public:
  AdapterBlendImpl(int64_t in_features, int64_t out_features, const MoeConfig& config,
                   std::shared_ptr<RoutingContext> context);
  // base = W₀x of the host layer.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& base);
  torch::Tensor& lora_A(int64_t e);  // [r_e, in]
  torch::Tensor& lora_B(int64_t e);  // [out, r_e]
  double scaling(int64_t e) const { return scalings_[static_cast<size_t>(e)]; }
  std::shared_ptr<RouterImpl> router;  // null: gate-less or global router

 private:
  std::unique_ptr<Gate> routing_;
  int64_t out_features_;
  std::vector<double> scalings_;
  std::vector<Weight> a_, b_;
};
TORCH_MODULE(AdapterBlend);

// The extension that routes a loom::Linear through its mixture.
class MixtureExtension : public LinearExtension {
 public:
  explicit MixtureExtension(ProjectionMixture mixture) : projection_(std::move(mixture)) {}
  explicit MixtureExtension(AdapterBlend blend) : blend_(std::move(blend)) {}
  torch::Tensor forward(LinearImpl& host, const torch::Tensor& x, const torch::Tensor& base) override;
  std::string kind() const override { return projection_ ? "moe" : "moe-adapters"; }
  bool replaces_output() const override { return static_cast<bool>(projection_); }
  const ProjectionMixture& projection() const { return projection_; }
  const AdapterBlend& blend() const { return blend_; }

 private:
  ProjectionMixture projection_{nullptr};
  AdapterBlend blend_{nullptr};
};

}  // namespace loom
