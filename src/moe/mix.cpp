// mix_models: full models -> MoE; the options both mix and blend declare.
#include "loom/moe/mix.h"

#include <torch/torch.h>

#include <map>
#include <set>

#include "loom/core/error.h"
#include "loom/merge/merge.h"
#include "mix_common.h"

namespace loom {

namespace {

template <typename O>
void add_router_options(ParamSchema<O>& s) {
  auto init = [](auto member) {
    return [member](O & o) -> auto& { return o.init.*member; };
  };
  s.add("top_k", &O::top_k, "experts per token; 0 = dense (every expert, weighted)", {0, 1 << 20})
      .add("gateless", &O::gateless, "a fixed 1/N average of every expert: no router, nothing to train")
      .add("global_router", &O::global_router,
           "one router on the token embeddings, shared by every mixed module of every layer")
      .add("router", &O::router, "router type: linear (Mixtral's gate) or deep (a small MLP)")
      .add("router_hidden", &O::router_hidden, "deep router's inner width; 0 = in_features / 4", {0, 1 << 20})
      .add_choice("gate_normalization", &O::gate_normalization, {"softmax", "sigmoid", "sum"},
                  "softmax: over every expert, then top-k, renormalised (Mixtral); sigmoid / sum: top-k on the raw "
                  "logits, then sigmoid of each / divided by their sum")
      .add("router_aux_loss_coef", &O::router_aux_loss_coef,
           "load-balancing coefficient recorded in config.json (loom moe train's default)", {0, 1e6})
      .template add_nested<std::string>(
          "router_init", init(&RouterInitOptions::init),
          "random: N(0, router_init_std) (the 'noisy' MoE when left untrained); base: row 0 = 1, "
          "the rest 1e-6; hidden: row i = normalised mean hidden state over expert i's "
          "positive_prompts")
      .one_of({"random", "base", "hidden"})
      .template add_nested<double>("router_init_std", init(&RouterInitOptions::std), "random init: standard deviation",
                                   {0, 100})
      .template add_nested<std::vector<std::string>>(
          "positive_prompts", init(&RouterInitOptions::positive_prompts),
          "hidden init: one JSONL per expert, comma-separated, in expert order")
      .template add_nested<int64_t>("positive_max_prompts", init(&RouterInitOptions::max_prompts),
                                    "hidden init: prompts read per expert; 0 = all", {0, 1e9})
      .template add_nested<std::string>(
          "hidden_source", init(&RouterInitOptions::hidden_source),
          "hidden init: router_input (what the router multiplies) or residual (the hidden state "
          "entering the layer, as the reference does)")
      .one_of({"router_input", "residual"})
      .template add_nested<uint64_t>("seed", init(&RouterInitOptions::seed), "random init's seed", {0, 1e15})
      .add("threads", &O::threads, "compute threads; 0 = all cores", {0, 1024});
}

std::vector<int64_t> parse_layers(const std::vector<std::string>& text) {
  std::vector<int64_t> out;
  for (const auto& t : text) {
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != t.size() || v < 0) throw Error("layers: '" + t + "' is not a layer index");
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<LlamaForCausalLMImpl> dense_llama(const LoadedModel& m, const std::string& dir) {
  if (m.model->model_type() != "llama")
    throw Error(dir + ": model_type is '" + m.model->model_type() + "'; mixing takes dense llama models");
  return as_llama(m.model, dir);
}

}  // namespace

MoeConfig routed_config(int64_t experts, int64_t top_k, bool gateless, bool global, const std::string& router,
                        int64_t router_hidden, const std::string& normalization, double aux) {
  MoeConfig m;
  m.num_experts = experts;
  m.top_k = gateless ? 0 : top_k;  // gate-less runs every expert: recorded as dense
  m.gateless = gateless;
  m.global_router = global;
  m.router = router;
  m.router_hidden = router_hidden;
  m.normalization = gate_normalization_from_name(normalization, "gate_normalization");
  m.router_aux_loss_coef = aux;
  router_types().get(router, "router");
  return m;
}

const ParamSchema<MixOptions>& mix_schema() {
  using O = MixOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("experts", &O::experts, "expert model directories, comma-separated, expert 0 first (e.g. the base)")
        .add("base_model", &O::base_model, "model directory of the shared stem; empty = the first expert")
        .add_choice("stem", &O::stem, {"base", "average"},
                    "embeddings, norms, lm_head and unmixed layers: from base_model, or averaged over the experts")
        .add("modules", &O::modules,
             "what becomes experts: mlp (the whole SwiGLU), and/or q_proj,k_proj,v_proj; or gate_proj,up_proj,"
             "down_proj (one router each)")
        .add("layers", &O::layers, "mixed layers, comma-separated indices; empty = every layer")
        .add("always_on", &O::always_on, "expert 0 always runs; the router picks top_k of the others");
    add_router_options(s);
    s.add_choice("format", &O::format, {"auto", "mixtral", "loom"},
                 "auto: Hugging Face's Mixtral layout when the mixture fits it, else loom_moe");
    return s;
  }();
  return schema;
}

const ParamSchema<BlendOptions>& blend_schema() {
  using O = BlendOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("base_model", &O::base_model, "model directory the adapters were trained on")
        .add("adapters", &O::adapters, "PEFT LoRA adapter directories, comma-separated (the experts)")
        .add("expert_models", &O::expert_models,
             "full model directories turned into rank-svd_rank adapter experts by truncated SVD of W_i - W_base")
        .add("svd_rank", &O::svd_rank, "rank of the SVD adapters", {1, 1 << 20})
        .add("svd_targets", &O::svd_targets, "linear layers the SVD adapters cover (PEFT names, or all)");
    add_router_options(s);
    return s;
  }();
  return schema;
}

void require_same_vocabulary(const Tokenizer& base, const Tokenizer& other, const std::string& what) {
  if (base.vocab_size() != other.vocab_size())
    throw Error(what + ": tokenizer has " + std::to_string(other.vocab_size()) + " tokens, the base's has " +
                std::to_string(base.vocab_size()) + " (experts must share the base's vocabulary)");
  for (int32_t id = 0; id < base.vocab_size(); ++id)
    if (base.id_to_token(id) != other.id_to_token(id))
      throw Error(what + ": tokenizer differs from the base's at id " + std::to_string(id) + " ('" +
                  other.id_to_token(id) + "' vs '" + base.id_to_token(id) + "')");
}

MixResult mix_models(const MixOptions& o) {
  if (o.experts.empty()) throw Error("experts: give at least one model directory");
  const std::string base_dir = o.base_model.empty() ? o.experts[0] : o.base_model;
  LoadedModel base = load_model_dir(base_dir);
  auto base_llama = dense_llama(base, base_dir);
  std::vector<LoadedModel> experts;
  for (size_t i = 0; i < o.experts.size(); ++i) {
    const std::string what = "experts[" + std::to_string(i) + "] (" + o.experts[i] + ")";
    experts.push_back(o.experts[i] == base_dir ? base : load_model_dir(o.experts[i]));
    dense_llama(experts.back(), o.experts[i]);
    require_same_architecture(base.model->config_json(), experts.back().model->config_json(), what);
    require_same_vocabulary(base.tokenizer, experts.back().tokenizer, what);
  }
  MoeConfig m = routed_config(static_cast<int64_t>(experts.size()), o.top_k, o.gateless, o.global_router, o.router,
                              o.router_hidden, o.gate_normalization, o.router_aux_loss_coef);
  m.modules = o.modules;
  m.layers = parse_layers(o.layers);
  m.always_on = o.always_on;
  m.validate("mix", base_llama->config().num_hidden_layers);
  MoeLayout layout = o.format == "loom" ? MoeLayout::Loom : MoeLayout::Mixtral;
  if (o.format == "auto" && !m.fits_mixtral()) layout = MoeLayout::Loom;
  MoeForCausalLM moe(base_llama->config(), m, layout);

  torch::NoGradGuard no_grad;
  std::vector<std::map<std::string, torch::Tensor>> states;
  for (auto& e : experts) {
    std::map<std::string, torch::Tensor> s;
    for (auto& [name, t] : model_state(*e.model)) s[name] = t;
    states.push_back(std::move(s));
  }
  std::map<std::string, torch::Tensor> dst;
  for (auto& [name, t] : model_state(*moe)) dst[name] = t;
  std::set<std::string> assigned;
  auto assign = [&](const std::string& name, const torch::Tensor& value) {
    dst.at(name).copy_(value);
    assigned.insert(name);
  };
  // The shared stem: every tensor the dense model and the mixture both have.
  for (auto& [name, t] : model_state(*base.model)) {
    if (!dst.count(name)) continue;
    if (o.stem == "average") {
      auto sum = torch::zeros_like(t);
      for (auto& s : states) sum += s.at(name);
      assign(name, sum / static_cast<double>(states.size()));
    } else {
      assign(name, t);
    }
  }
  // Experts, each in full.
  const int64_t layers = base_llama->config().num_hidden_layers;
  for (int64_t l = 0; l < layers; ++l) {
    if (!moe->moe_block(l)) continue;
    const std::string from = "model.layers." + std::to_string(l) + ".mlp.";
    const std::string to = "model.layers." + std::to_string(l) + ".block_sparse_moe.experts.";
    for (size_t e = 0; e < states.size(); ++e)
      for (auto [w, proj] : {std::pair{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}})
        assign(to + std::to_string(e) + "." + w + ".weight", states[e].at(from + proj + ".weight"));
  }
  for (auto [host, mixture] : moe->projection_mixtures()) {
    assign(host + ".weight", states[0].at(host + ".weight"));
    for (size_t e = 1; e < states.size(); ++e) {
      mixture->expert_weight(static_cast<int64_t>(e)).copy_(states[e].at(host + ".weight"));
      assigned.insert(host + "_moe.experts." + std::to_string(e) + ".weight");
    }
  }
  std::set<std::string> routers;
  for (const auto& n : moe->router_parameter_names()) routers.insert(n);
  for (const auto& [name, t] : dst)
    if (!assigned.count(name) && !routers.count(name))
      throw Error("mix: internal error, no source for tensor '" + name + "'");
  init_routers(*moe, o.init, *base.model, base.tokenizer);
  return {moe, base.tokenizer, base.generation};
}

}  // namespace loom
