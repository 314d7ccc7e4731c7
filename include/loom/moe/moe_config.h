// What a mixture of domain experts is made of, as its config.json records
// it: loom_moe's "moe" object, or Mixtral's num_local_experts /
// num_experts_per_tok when the mixture fits Hugging Face's Mixtral layout.
// Torch-free, so that the CLI and the docs can read and check it cheaply.
//
//   loom::MoeConfig m;
//   m.num_experts = 4; m.top_k = 2; m.modules = {"mlp"};
//   m.validate("mix", /*num_layers=*/4);
//   nlohmann::json j = m.to_json();
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"

namespace loom {

// How the selected experts' router scores become their weights.
//   softmax  softmax over every expert in float32, top-k, renormalised over
//            the k (Mixtral's convention; equal to a softmax over the k logits)
//   sigmoid  top-k on the raw logits, each weight sigmoid(logit) (the adapter default)
//   sum      top-k on the raw logits, each divided by their sum (+1e-6)
enum class GateNormalization { Softmax, Sigmoid, Sum };
const EnumNames<GateNormalization>& gate_normalization_names();
GateNormalization gate_normalization_from_name(const std::string& name, const std::string& origin);
const char* gate_normalization_name(GateNormalization normalization);

// The modules that can become experts when full models are mixed: the whole
// SwiGLU MLP, the q/k/v projections, or gate/up/down each with its own router.
const std::vector<std::string>& mixable_modules();
// A projection's module name ("q_proj") is in attention ("self_attn") or in the MLP ("mlp").
bool is_attention_projection(const std::string& module);

struct MoeConfig {
  int64_t num_experts = 2;
  // Experts per token; 0 = dense (every expert runs, weighted by the gates).
  int64_t top_k = 2;
  // Full-model mixing: "mlp" and/or projections from mixable_modules().
  // Adapter blending: the adapted linear layers' names (PEFT's suffixes).
  std::vector<std::string> modules = {"mlp"};
  // Mixed layers, ascending; empty = every layer.
  std::vector<int64_t> layers;
  // Experts are LoRA adapters on the base's own weights (y = W₀x + Σ g_i s_i B_i A_i x).
  bool adapters = false;
  // A fixed 1/N average of every expert: no router, nothing to train.
  bool gateless = false;
  // Expert 0 always runs with weight 1; the router picks top_k of experts 1..N-1.
  bool always_on = false;
  // One router on the token embeddings serves every mixed module of every layer.
  bool global_router = false;
  std::string router = "linear";  // a router type (moe/router.h)
  int64_t router_hidden = 0;      // deep router's inner width; 0 = in_features / 4
  GateNormalization normalization = GateNormalization::Softmax;
  double router_aux_loss_coef = 0.0;  // recorded for `loom moe train` and Mixtral's config
  // Adapter experts: rank and scaling (alpha/r, or alpha/√r with rsLoRA) per expert.
  std::vector<int64_t> adapter_ranks;
  std::vector<double> adapter_scalings;

  // Router outputs: N, or N-1 with an always-on expert 0.
  int64_t router_outputs() const { return always_on ? num_experts - 1 : num_experts; }
  // Experts that run per token in each mixed module.
  int64_t active_experts() const;
  bool dense() const { return gateless || top_k == 0; }
  bool mixes_layer(int64_t layer) const;
  bool mixes(const std::string& module) const;
  // Whole-MLP experts, every layer, linear softmax top-k router per layer:
  // what transformers' MixtralForCausalLM can load.
  bool fits_mixtral() const;

  // Throws loom::Error naming `origin` and the field: top_k > N, unknown or
  // unmixable modules (o_proj), layers out of range, contradictory variants.
  void validate(const std::string& origin, int64_t num_layers) const;

  nlohmann::json to_json() const;
  static MoeConfig from_json(const nlohmann::json& json, const std::string& origin);
};

}  // namespace loom
