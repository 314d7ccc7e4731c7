#include "loom/merge/merge.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "loom/core/error.h"
#include "loom/models/model_dir.h"
#include "methods/methods.h"

namespace loom {
namespace fs = std::filesystem;

LoraMergeMode lora_merge_mode_from_name(const std::string& name, const std::string& origin) {
  if (name == "delta") return LoraMergeMode::Delta;
  if (name == "peft") return LoraMergeMode::Peft;
  throw Error(origin + ": unknown lora_merge '" + name + "'; valid: delta (exact B·A), peft (A and B separately)");
}

namespace {

// The one place merge methods are listed; each lives in src/merge/methods/.
void register_all_merge_methods(Registry<MergeMethodEntry>& r) {
  register_linear_merges(r);
  register_ties_merges(r);
  register_dare_merges(r);
}

}  // namespace

Registry<MergeMethodEntry>& merge_methods() {
  static Registry<MergeMethodEntry> registry("merge_method", register_all_merge_methods);
  return registry;
}

torch::Tensor merge_task_tensors(const std::vector<torch::Tensor>& tensors, const std::vector<double>& weights,
                                 const std::vector<double>& densities, const MergeOptions& options,
                                 at::Generator& gen) {
  if (tensors.empty()) throw Error("merge: no task tensors");
  return merge_methods().get(options.method, "merge").merge(tensors, weights, densities, options, gen);
}

void require_same_architecture(const nlohmann::json& base, const nlohmann::json& other, const std::string& what) {
  // Special-token ids and bookkeeping may differ; every shape-bearing field may not.
  static const std::set<std::string> free_fields = {"bos_token_id", "eos_token_id",         "pad_token_id",
                                                    "torch_dtype",  "transformers_version", "_name_or_path"};
  std::set<std::string> keys;
  for (const auto& [k, v] : base.items()) keys.insert(k);
  for (const auto& [k, v] : other.items()) keys.insert(k);
  for (const auto& key : keys) {
    if (free_fields.count(key)) continue;
    const bool in_base = base.contains(key), in_other = other.contains(key);
    if (in_base != in_other || (in_base && base[key] != other[key]))
      throw Error(what + ": architecture differs from the base in '" + key + "' (" +
                  (in_other ? other[key].dump() : "absent") + " vs base " + (in_base ? base[key].dump() : "absent") +
                  ")");
  }
}

void merge_models_into(CausalLMImpl& base, const std::vector<CausalLM>& models, const std::vector<MergeInput>& inputs,
                       const MergeOptions& options) {
  if (models.empty()) throw Error("merge: no models to merge");
  for (size_t i = 0; i < models.size(); ++i)
    require_same_architecture(base.config_json(), models[i]->config_json(), "merge: model " + std::to_string(i + 1));
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(options.seed);
  std::vector<std::map<std::string, torch::Tensor>> states;
  for (auto m : models) {
    std::map<std::string, torch::Tensor> s;
    for (auto& [name, t] : model_state(*m)) s[name] = t;
    states.push_back(std::move(s));
  }
  std::vector<double> weights, densities;
  for (const auto& in : inputs) {
    weights.push_back(in.weight);
    densities.push_back(in.density);
  }
  for (auto& [name, w] : model_state(base)) {
    std::vector<torch::Tensor> task;
    for (size_t i = 0; i < states.size(); ++i) {
      auto it = states[i].find(name);
      if (it == states[i].end() || it->second.sizes() != w.sizes())
        throw Error("merge: model " + std::to_string(i + 1) + " has no tensor '" + name + "' of shape " +
                    c10::str(w.sizes()));
      task.push_back(it->second - w);
    }
    w.add_(merge_task_tensors(task, weights, densities, options, gen));
  }
}

namespace {

void require_inputs(size_t n, const std::vector<MergeInput>& inputs) {
  if (n == 0) throw Error("merge: nothing to merge");
  if (inputs.size() != n) throw Error("merge: one weight/density entry is needed per source");
}

}  // namespace

void merge_adapter_deltas_into(CausalLMImpl& base, const std::vector<PeftAdapter>& adapters,
                               const std::vector<MergeInput>& inputs, const MergeOptions& options) {
  require_inputs(adapters.size(), inputs);
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(options.seed);
  // Modules any adapter touches; an adapter that skips one contributes ΔW = 0 there.
  std::map<std::string, std::shared_ptr<LinearImpl>> modules;
  for (auto& [name, layer] : linear_layers(base)) modules.emplace(name, layer);
  std::set<std::string> touched;
  for (const auto& a : adapters)
    if (!a.saved_tensors().empty())
      throw Error(a.origin + ": merging an adapter with modules_to_save is not supported (merge the full models)");
  for (const auto& a : adapters)
    for (const auto& m : a.modules()) {
      if (!modules.count(m))
        throw Error(a.origin + ": tensor '" + PeftAdapter::key(m, 'A') + "' matches no module of the base");
      touched.insert(m);
    }
  std::vector<double> weights, densities;
  for (const auto& in : inputs) {
    weights.push_back(in.weight);
    densities.push_back(in.density);
  }
  for (const auto& m : touched) {
    auto& w = modules.at(m)->weight;
    std::vector<torch::Tensor> deltas;
    for (const auto& a : adapters) {
      auto key_a = PeftAdapter::key(m, 'A');
      if (!a.tensors.count(key_a)) {
        deltas.push_back(torch::zeros_like(w));
        continue;
      }
      auto delta = torch::matmul(a.factor(m, 'B'), a.factor(m, 'A')) * a.config.scaling();
      if (delta.sizes() != w.sizes())
        throw Error(a.origin + ": tensors '" + key_a + "' / lora_B give ΔW of shape " + c10::str(delta.sizes()) +
                    " but the base weight is " + c10::str(w.sizes()));
      deltas.push_back(delta);
    }
    w.add_(merge_task_tensors(deltas, weights, densities, options, gen));
  }
}

PeftAdapter merge_adapters_peft(const std::vector<PeftAdapter>& adapters, const std::vector<MergeInput>& inputs,
                                const MergeOptions& options) {
  require_inputs(adapters.size(), inputs);
  for (const auto& a : adapters) {
    if (a.config.r != adapters[0].config.r)
      throw Error("merge (lora_merge: peft): " + a.origin + " has r=" + std::to_string(a.config.r) + " but " +
                  adapters[0].origin + " has r=" + std::to_string(adapters[0].config.r) +
                  "; PEFT's factor-wise merge needs one rank (use lora_merge: delta)");
    if (a.modules() != adapters[0].modules())
      throw Error("merge (lora_merge: peft): " + a.origin + " targets other modules than " + adapters[0].origin);
    if (!a.saved_tensors().empty())
      throw Error(a.origin + ": merging an adapter with modules_to_save is not supported (merge the full models)");
  }
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(options.seed);
  PeftAdapter out;
  out.config = adapters[0].config;
  out.config.alpha = static_cast<double>(out.config.r);  // PEFT: lora_alpha = new rank, so scaling 1
  out.config.use_rslora = false;
  out.origin = "merged adapter";
  // PEFT's "linear" is an unnormalised weighted sum; loom's linear divides the
  // weights by their total first, so that weights 1/N and "average" agree.
  MergeOptions factor_options = options;
  double total_weight = 0;
  for (const auto& in : inputs) total_weight += in.weight;
  const bool normalise = merge_methods().get(options.method, "merge").normalises_weights;
  if (normalise) {
    if (total_weight == 0) throw Error("merge: linear merge weights sum to zero");
    factor_options.method = "task_arithmetic";
  }
  std::vector<double> weights, densities;
  for (size_t i = 0; i < adapters.size(); ++i) {
    const double w = normalise ? inputs[i].weight / total_weight : inputs[i].weight;
    weights.push_back(std::sqrt(w * adapters[i].config.scaling()));
    densities.push_back(inputs[i].density);
  }
  for (const auto& m : adapters[0].modules()) {
    for (char which : {'A', 'B'}) {
      std::vector<torch::Tensor> factors;
      for (const auto& a : adapters) factors.push_back(a.factor(m, which));
      out.tensors[PeftAdapter::key(m, which)] = merge_task_tensors(factors, weights, densities, factor_options, gen);
    }
  }
  return out;
}

CausalLM run_merge(const MergeSpec& spec, PeftAdapter* merged_adapter) {
  LoadedModel base = load_model_dir(spec.base_model);
  std::vector<MergeInput> inputs;
  std::vector<PeftAdapter> adapters;
  std::vector<CausalLM> models;
  for (const auto& s : spec.sources) {
    inputs.push_back(s.input);
    if (fs::exists(s.path + "/adapter_config.json"))
      adapters.push_back(load_peft_adapter(s.path));
    else
      models.push_back(load_model_dir(s.path).model);
  }
  if (!adapters.empty() && !models.empty())
    throw Error("merge: sources mix adapters and full models; merge one kind at a time");
  if (!models.empty()) {
    merge_models_into(*base.model, models, inputs, spec.options);
    return base.model;
  }
  if (spec.lora_merge == LoraMergeMode::Peft) {
    PeftAdapter merged = merge_adapters_peft(adapters, inputs, spec.options);
    apply_peft_adapter(*base.model, merged);
    merge_lora(*base.model);
    if (merged_adapter) *merged_adapter = std::move(merged);
  } else {
    merge_adapter_deltas_into(*base.model, adapters, inputs, spec.options);
  }
  return base.model;
}

}  // namespace loom
