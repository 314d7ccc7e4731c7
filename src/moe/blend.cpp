// blend_adapters: LoRA adapters (or SVD adapters of full models) -> an
// adapter mixture on the frozen base.
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>

#include "loom/adapters/targets.h"
#include "loom/core/error.h"
#include "loom/merge/merge.h"
#include "loom/moe/mix.h"
#include "mix_common.h"

namespace loom {

PeftAdapter svd_adapter(CausalLMImpl& base, CausalLMImpl& expert, int64_t rank,
                        const std::vector<std::string>& targets) {
  if (rank < 1) throw Error("svd_rank must be at least 1");
  require_same_architecture(base.config_json(), expert.config_json(), "SVD expert");
  PeftAdapter adapter;
  adapter.origin = "SVD adapter";
  auto layers = find_linear_layers(base, targets, "svd_targets");
  adapter.config.r = rank;
  adapter.config.alpha = static_cast<double>(rank);  // scaling 1: B·A is ΔW's rank-r part itself
  adapter.config.dropout = 0;
  adapter.config.target_modules = target_suffixes(layers);
  torch::NoGradGuard no_grad;
  for (auto& [name, layer] : layers) {
    auto delta = (linear_layer_named(expert, name, "SVD expert")->weight - layer->weight).to(torch::kDouble);
    auto [u, s, vh] = torch::linalg_svd(delta, /*full_matrices=*/false);
    const int64_t r = std::min<int64_t>(rank, s.size(0));
    auto root = s.narrow(0, 0, r).sqrt();
    auto a = torch::zeros({rank, delta.size(1)}, torch::kDouble);
    auto b = torch::zeros({delta.size(0), rank}, torch::kDouble);
    // Layers narrower than the rank keep zero rows beyond their own.
    a.narrow(0, 0, r).copy_(root.unsqueeze(1) * vh.narrow(0, 0, r));
    b.narrow(1, 0, r).copy_(u.narrow(1, 0, r) * root.unsqueeze(0));
    adapter.tensors[PeftAdapter::key(name, 'A')] = a.to(torch::kFloat);
    adapter.tensors[PeftAdapter::key(name, 'B')] = b.to(torch::kFloat);
  }
  return adapter;
}

MixResult blend_adapters(const BlendOptions& o) {
  if (o.base_model.empty()) throw Error("base_model is required");
  if (o.adapters.empty() && o.expert_models.empty())
    throw Error("give the experts as adapters (PEFT directories) and/or expert_models (full models)");
  LoadedModel base = load_model_dir(o.base_model);
  if (base.model->model_type() != "llama")
    throw Error(o.base_model + ": model_type is '" + base.model->model_type() + "'; blending takes a dense llama base");
  auto base_llama = as_llama(base.model, o.base_model);
  std::vector<PeftAdapter> adapters;
  std::vector<std::string> names;
  for (size_t i = 0; i < o.adapters.size(); ++i) {
    adapters.push_back(load_peft_adapter(o.adapters[i]));
    names.push_back("adapters[" + std::to_string(i) + "] (" + o.adapters[i] + ")");
  }
  for (size_t i = 0; i < o.expert_models.size(); ++i) {
    const std::string what = "expert_models[" + std::to_string(i) + "] (" + o.expert_models[i] + ")";
    LoadedModel e = load_model_dir(o.expert_models[i]);
    require_same_architecture(base.model->config_json(), e.model->config_json(), what);
    require_same_vocabulary(base.tokenizer, e.tokenizer, what);
    adapters.push_back(svd_adapter(*base.model, *e.model, o.svd_rank, o.svd_targets));
    adapters.back().origin = what;
    names.push_back(what);
  }
  // Every expert covers the same linear layers.
  const std::vector<std::string> modules = adapters[0].modules();
  for (size_t i = 1; i < adapters.size(); ++i)
    if (adapters[i].modules() != modules) {
      std::set<std::string> a(modules.begin(), modules.end()), b;
      for (const auto& m : adapters[i].modules()) b.insert(m);
      std::string odd;
      for (const auto& m : a)
        if (!b.count(m)) odd = m;
      for (const auto& m : b)
        if (!a.count(m)) odd = m;
      throw Error(names[i] + ": covers other modules than " + names[0] + " (e.g. '" + odd +
                  "'); blended adapters must target the same layers");
    }
  // Recorded as PEFT does: target suffixes, plus the layers when not all are covered.
  std::vector<NamedLinear> covered;
  for (const auto& m : modules) covered.push_back({m, linear_layer_named(*base.model, m, names[0])});
  std::set<int64_t> layer_set;
  for (const auto& m : modules) layer_set.insert(layer_of_module(m));
  MoeConfig cfg = routed_config(static_cast<int64_t>(adapters.size()), o.top_k, o.gateless, o.global_router, o.router,
                                o.router_hidden, o.gate_normalization, o.router_aux_loss_coef);
  cfg.adapters = true;
  cfg.modules = target_suffixes(covered);
  if (static_cast<int64_t>(layer_set.size()) != base_llama->config().num_hidden_layers)
    cfg.layers.assign(layer_set.begin(), layer_set.end());
  for (const auto& a : adapters) {
    cfg.adapter_ranks.push_back(a.config.r);
    cfg.adapter_scalings.push_back(a.config.scaling());
  }
  cfg.validate("blend", base_llama->config().num_hidden_layers);
  MoeForCausalLM moe(base_llama->config(), cfg, MoeLayout::Loom);
  if (moe->adapter_blends().size() != modules.size())
    throw Error(names[0] + ": its modules are not every '" + cfg.modules[0] +
                "'-style layer of the covered layers; loom blends regular target sets only");
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> dst;
  for (auto& [name, t] : model_state(*moe)) dst[name] = t;
  for (auto& [name, t] : model_state(*base.model)) dst.at(name).copy_(t);
  for (auto [host, blend] : moe->adapter_blends()) {
    for (size_t e = 0; e < adapters.size(); ++e) {
      for (char which : {'A', 'B'}) {
        const auto& src = adapters[e].factor(host, which);
        auto& to = which == 'A' ? blend->lora_A(static_cast<int64_t>(e)) : blend->lora_B(static_cast<int64_t>(e));
        if (src.sizes() != to.sizes())
          throw Error(names[e] + ": tensor '" + PeftAdapter::key(host, which) + "' has shape " + c10::str(src.sizes()) +
                      " but the base needs " + c10::str(to.sizes()) + " (was the adapter trained on this base?)");
        to.copy_(src);
      }
    }
  }
  init_routers(*moe, o.init, *base.model, base.tokenizer);
  return {moe, base.tokenizer, base.generation};
}

}  // namespace loom
