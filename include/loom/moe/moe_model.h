// A mixture-of-experts causal LM: the Llama decoder with some feed-forward
// blocks replaced by sparse MoE blocks and some linear layers routed through
// projection or adapter mixtures (moe/blocks.h). Two model families, both
// registered by register_moe() (moe/register.h):
//
//   mixtral   whole-MLP experts in every layer, one linear softmax top-k
//             router per layer: Hugging Face's MixtralForCausalLM config and
//             tensor names (model.layers.N.block_sparse_moe.gate.weight,
//             ...experts.E.w1/w2/w3.weight)
//   loom_moe  every other mixture, with each choice recorded in config.json's
//             "moe" object (moe/moe_config.h)
//
// Both train, evaluate, generate (with the KV cache) and save through the
// CausalLM interface, and record their router logits in ModelOutput.record.
//
//   loom::MoeForCausalLM m(llama_config, moe_config, loom::MoeLayout::Mixtral);
//   loom::ModelOutput out = m->forward_hidden(batch);   // out.record.router_logits
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/models/llama/llama.h"
#include "loom/moe/blocks.h"
#include "loom/moe/moe_config.h"

namespace loom {

enum class MoeLayout { Mixtral, Loom };

class MoeForCausalLMImpl : public LlamaForCausalLMImpl {
 public:
  MoeForCausalLMImpl(const LlamaConfig& llama, const MoeConfig& moe, MoeLayout layout);

  std::string model_type() const override { return layout_ == MoeLayout::Mixtral ? "mixtral" : "loom_moe"; }
  nlohmann::json config_json() const override;
  ModelOutput forward_hidden(const BatchTensors& batch, bool keep_layer_hidden = false) override;
  torch::Tensor forward_cached(const torch::Tensor& input_ids, KVCache* cache) override;
  void reset_parameters(uint64_t seed) override;

  const MoeConfig& moe_config() const { return moe_; }
  MoeLayout layout() const { return layout_; }
  // Layer `layer`'s MoE block, or null when its MLP is dense.
  SparseMoeBlockImpl* moe_block(int64_t layer);
  // The mixtures attached to linear layers, by the host layer's module name.
  const std::map<std::string, ProjectionMixture>& projection_mixtures() const { return projections_; }
  const std::map<std::string, AdapterBlend>& adapter_blends() const { return blends_; }
  // Every router (per-module or global), with its module name.
  std::vector<std::pair<std::string, std::shared_ptr<RouterImpl>>> routers();
  // Names of the routers' parameters, as in the model directory.
  std::vector<std::string> router_parameter_names() const;
  // The global router on the token embeddings (`model.router`), or null.
  std::shared_ptr<RouterImpl> global_router;

  int64_t total_parameters() const;
  // Parameters one token uses: the stem, the routers and the experts it is routed to.
  int64_t active_parameters() const;

 private:
  MoeForCausalLMImpl(const LlamaConfig& llama, const MoeConfig& moe, MoeLayout layout,
                     std::shared_ptr<RoutingContext> context);
  void attach_linear_mixtures();
  void route_globally(const torch::Tensor& input_ids);

  MoeConfig moe_;
  MoeLayout layout_;
  std::shared_ptr<RoutingContext> context_;
  std::map<std::string, ProjectionMixture> projections_;
  std::map<std::string, AdapterBlend> blends_;
};
TORCH_MODULE(MoeForCausalLM);

// The MoE model behind `model`, or an error naming `origin`.
std::shared_ptr<MoeForCausalLMImpl> as_moe(const CausalLM& model, const std::string& origin);

// The families' config.json readers (errors name `origin` and the field).
MoeForCausalLM mixtral_from_config(const nlohmann::json& config, const std::string& origin);
MoeForCausalLM loom_moe_from_config(const nlohmann::json& config, const std::string& origin);

// The index N of a module name "model.layers.N....", or -1.
int64_t layer_of_module(const std::string& name);

}  // namespace loom
