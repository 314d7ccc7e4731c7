// Building mixtures of domain experts (the toolkit of arXiv 2408.17280):
//
//   mix_models      N dense models of one base architecture -> an MoE whose
//                   experts are their MLPs (and/or q/k/v or gate/up/down
//                   projections), with a shared stem from the base (or the
//                   average of the ingredients). Every expert is stored in
//                   full (the reference stores always-on experts 2.. as
//                   differences from expert 1; loom does not).
//   blend_adapters  N LoRA adapters on one base -> y = W₀x + Σ_{i∈topk} g_i s_i B_i A_i x;
//                   full models become rank-r adapters by truncated SVD of W_i − W_base
//   init_routers    random N(0, std) ("noisy" when left untrained), favour the
//                   base (row 0 = 1, the rest 1e-6), or hidden-state rows: row i
//                   = the L2-normalised mean input of that router in the base
//                   model over expert i's positive prompts
//
// Options are declared once (mix_schema(), blend_schema()) for `loom moe
// mix|blend` and their YAML configs.
//
//   loom::MixOptions o;
//   o.experts = {"runs/base/model", "runs/elements/model", "runs/eng_fra/model"};
//   loom::MixResult r = loom::mix_models(o);
//   loom::save_model_dir("runs/moe", *r.model, r.tokenizer);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loom/adapters/lora.h"
#include "loom/core/param_schema.h"
#include "loom/core/tokenizer.h"
#include "loom/models/model_dir.h"
#include "loom/moe/moe_model.h"

namespace loom {

struct RouterInitOptions {
  std::string init = "random";  // random | base | hidden
  double std = 0.02;            // random: N(0, std)
  // hidden: one JSONL per expert ({"text"} or {"prompt","completion"} rows).
  std::vector<std::string> positive_prompts;
  int64_t max_prompts = 200;
  // hidden: what a router row averages. router_input = what that router
  // multiplies (the MLP's normed input, a projection's input); residual = the
  // hidden state entering the layer (the reference's choice). See docs/moe.md.
  std::string hidden_source = "router_input";
  uint64_t seed = 0;
};

// Initialises every router of `moe`. `base` (a dense model of the same
// shape) and `tokenizer` serve the hidden-state initialisation.
void init_routers(MoeForCausalLMImpl& moe, const RouterInitOptions& options, CausalLMImpl& base,
                  const Tokenizer& tokenizer);

struct MixOptions {
  std::vector<std::string> experts;  // model directories, expert 0 first
  std::string base_model;            // the stem's source; empty = experts[0]
  std::string stem = "base";         // base | average (over the experts)
  std::vector<std::string> modules = {"mlp"};
  std::vector<std::string> layers;  // layer indices; empty = every layer
  int64_t top_k = 2;
  bool gateless = false;
  bool always_on = false;
  bool global_router = false;
  std::string router = "linear";
  int64_t router_hidden = 0;
  std::string gate_normalization = "softmax";
  double router_aux_loss_coef = 0.0;
  RouterInitOptions init;
  std::string format = "auto";  // auto (Mixtral when it fits) | mixtral | loom
  int threads = 0;
};
const ParamSchema<MixOptions>& mix_schema();

struct BlendOptions {
  std::string base_model;
  std::vector<std::string> adapters;       // PEFT adapter directories
  std::vector<std::string> expert_models;  // full models, turned into rank-svd_rank adapters
  int64_t svd_rank = 16;
  std::vector<std::string> svd_targets = {"all"};
  int64_t top_k = 2;  // 0 = dense: every adapter runs
  bool gateless = false;
  bool global_router = false;
  std::string router = "linear";
  int64_t router_hidden = 0;
  std::string gate_normalization = "sigmoid";
  double router_aux_loss_coef = 0.0;
  RouterInitOptions init;
  int threads = 0;
};
const ParamSchema<BlendOptions>& blend_schema();

struct MixResult {
  MoeForCausalLM model{nullptr};
  Tokenizer tokenizer;
  GenerationDefaults generation;
};

// Errors name the directory and the field: ingredients of another
// architecture or vocabulary, top_k > N, unknown or unmixable modules, an
// empty positive-prompt file.
MixResult mix_models(const MixOptions& options);
MixResult blend_adapters(const BlendOptions& options);

// ΔW = W_expert − W_base of each target linear layer as a rank-r PEFT
// adapter (lora_alpha = r, so s = 1): A = √S_r V_rᵀ, B = U_r √S_r, which
// reconstructs ΔW up to the singular values beyond r (Eckart–Young).
PeftAdapter svd_adapter(CausalLMImpl& base, CausalLMImpl& expert, int64_t rank,
                        const std::vector<std::string>& targets);

// Throws unless the two tokenizers have the same vocabulary (same tokens
// under the same ids); names `what`.
void require_same_vocabulary(const Tokenizer& base, const Tokenizer& other, const std::string& what);

}  // namespace loom
