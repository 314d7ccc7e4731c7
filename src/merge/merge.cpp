#include "loom/merge/merge.h"

#include <ATen/CPUGeneratorImpl.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "loom/core/error.h"
#include "loom/models/model_dir.h"

namespace loom {
namespace fs = std::filesystem;

MergeMethod merge_method_from_name(const std::string& name, const std::string& origin) {
  if (name == "task_arithmetic") return MergeMethod::TaskArithmetic;
  if (name == "linear" || name == "average") return MergeMethod::Linear;
  if (name == "ties") return MergeMethod::Ties;
  if (name == "dare_linear") return MergeMethod::DareLinear;
  if (name == "dare_ties") return MergeMethod::DareTies;
  throw Error(origin + ": unknown merge_method '" + name +
              "'; valid: linear (average), task_arithmetic, ties, dare_linear, dare_ties");
}

const char* merge_method_name(MergeMethod m) {
  switch (m) {
    case MergeMethod::TaskArithmetic: return "task_arithmetic";
    case MergeMethod::Linear: return "linear";
    case MergeMethod::Ties: return "ties";
    case MergeMethod::DareLinear: return "dare_linear";
    case MergeMethod::DareTies: return "dare_ties";
  }
  return "?";
}

LoraMergeMode lora_merge_mode_from_name(const std::string& name, const std::string& origin) {
  if (name == "delta") return LoraMergeMode::Delta;
  if (name == "peft") return LoraMergeMode::Peft;
  throw Error(origin + ": unknown lora_merge '" + name + "'; valid: delta (exact B·A), peft (A and B separately)");
}

namespace {

// Keeps the round(density·n) largest magnitudes (PEFT: int(density·n), topk).
torch::Tensor magnitude_prune(const torch::Tensor& t, double density) {
  if (density >= 1.0) return t;
  const int64_t k = static_cast<int64_t>(density * static_cast<double>(t.numel()));
  auto mask = torch::zeros({t.numel()}, t.options());
  if (k > 0) mask.index_fill_(0, std::get<1>(t.abs().flatten().topk(k)), 1.0);
  return t * mask.view(t.sizes());
}

// Drops each entry with probability 1-density and rescales the survivors.
torch::Tensor random_prune(const torch::Tensor& t, double density, at::Generator& gen) {
  if (density >= 1.0) return t;
  if (density <= 0.0) return torch::zeros_like(t);
  auto keep = torch::empty_like(t).bernoulli_(density, gen);
  return t * keep / density;
}

}  // namespace

torch::Tensor merge_task_tensors(const std::vector<torch::Tensor>& tensors, const std::vector<double>& weights,
                                 const std::vector<double>& densities, const MergeOptions& options,
                                 at::Generator& gen) {
  if (tensors.empty()) throw Error("merge: no task tensors");
  const size_t n = tensors.size();
  std::vector<torch::Tensor> pruned(n);
  for (size_t i = 0; i < n; ++i) {
    switch (options.method) {
      case MergeMethod::Ties: pruned[i] = magnitude_prune(tensors[i], densities[i]); break;
      case MergeMethod::DareLinear:
      case MergeMethod::DareTies: pruned[i] = random_prune(tensors[i], densities[i], gen); break;
      default: pruned[i] = tensors[i];
    }
  }
  auto w = torch::tensor(std::vector<float>(weights.begin(), weights.end()));
  std::vector<int64_t> shape = {static_cast<int64_t>(n)};
  for (int64_t d = 0; d < tensors[0].dim(); ++d) shape.push_back(1);
  auto weighted = torch::stack(pruned) * w.view(shape);
  switch (options.method) {
    case MergeMethod::TaskArithmetic:
    case MergeMethod::DareLinear: return weighted.sum(0);
    case MergeMethod::Linear: {
      double total = 0;
      for (double x : weights) total += x;
      if (total == 0) throw Error("merge: linear merge weights sum to zero");
      return weighted.sum(0) / total;
    }
    case MergeMethod::Ties:
    case MergeMethod::DareTies: {
      auto elect = options.sign_by_frequency ? weighted.sign().sum(0) : weighted.sum(0);
      auto majority = torch::where(elect >= 0, torch::ones_like(elect), -torch::ones_like(elect));
      auto agree = weighted.sign().eq(majority.unsqueeze(0)).to(weighted.scalar_type());
      return (weighted * agree).sum(0) / agree.sum(0).clamp_min(1.0);
    }
  }
  return weighted.sum(0);
}

void require_same_architecture(const LlamaConfig& a, const LlamaConfig& b, const std::string& what) {
  auto ja = a.to_json(), jb = b.to_json();
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads", "head_dim", "tie_word_embeddings", "rope_theta"}) {
    if (ja.contains(key) != jb.contains(key) || (ja.contains(key) && ja[key] != jb[key]))
      throw Error(what + ": architecture differs from the base in '" + key + "' (" +
                  (jb.contains(key) ? jb[key].dump() : "absent") + " vs base " +
                  (ja.contains(key) ? ja[key].dump() : "absent") + ")");
  }
}

void merge_models_into(LlamaForCausalLM& base, const std::vector<LlamaForCausalLM>& models,
                       const std::vector<MergeInput>& inputs, const MergeOptions& options) {
  if (models.empty()) throw Error("merge: no models to merge");
  for (size_t i = 0; i < models.size(); ++i)
    require_same_architecture(base->config(), models[i]->config(), "merge: model " + std::to_string(i + 1));
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(options.seed);
  std::vector<std::map<std::string, torch::Tensor>> states;
  for (auto m : models) {
    std::map<std::string, torch::Tensor> s;
    for (auto& [name, t] : model_state(m)) s[name] = t;
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

void merge_adapter_deltas_into(LlamaForCausalLM& base, const std::vector<PeftAdapter>& adapters,
                               const std::vector<MergeInput>& inputs, const MergeOptions& options) {
  require_inputs(adapters.size(), inputs);
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(options.seed);
  // Modules any adapter touches; an adapter that skips one contributes ΔW = 0 there.
  std::map<std::string, Projection> modules;
  for (auto& [name, proj] : target_projections(base, lora_target_names())) modules.emplace(name, proj);
  std::set<std::string> touched;
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
  if (options.method == MergeMethod::Linear) {
    if (total_weight == 0) throw Error("merge: linear merge weights sum to zero");
    factor_options.method = MergeMethod::TaskArithmetic;
  }
  std::vector<double> weights, densities;
  for (size_t i = 0; i < adapters.size(); ++i) {
    const double w = options.method == MergeMethod::Linear ? inputs[i].weight / total_weight : inputs[i].weight;
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

// ---------- YAML description ----------

namespace {

std::string where(const std::string& path, const YAML::Node& node) {
  return path + ":" + std::to_string(node.Mark().line + 1);
}

template <typename T>
T scalar(const std::string& path, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) throw Error(where(path, node) + ": '" + key + "' must be a scalar");
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw Error(where(path, node) + ": '" + key + "' has a value of the wrong type: '" + node.Scalar() + "'");
  }
}

void read_input_parameters(const std::string& path, const YAML::Node& params, MergeInput* input) {
  if (!params) return;
  if (!params.IsMap()) throw Error(where(path, params) + ": 'parameters' must be a mapping");
  for (const auto& kv : params) {
    const std::string key = kv.first.as<std::string>();
    if (key == "weight")
      input->weight = scalar<double>(path, kv.second, key);
    else if (key == "density")
      input->density = scalar<double>(path, kv.second, key);
    else
      throw Error(where(path, kv.first) + ": unknown parameter '" + key + "'; valid: weight, density");
  }
  if (!(input->density > 0 && input->density <= 1)) throw Error(where(path, params) + ": density must lie in (0, 1]");
}

}  // namespace

MergeSpec MergeSpec::load(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(path + ": cannot read the merge description");
  } catch (const YAML::Exception& e) {
    throw Error(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) throw Error(path + ": a merge description is a YAML mapping");
  MergeSpec spec;
  MergeInput defaults;
  bool have_method = false;
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key == "merge_method") {
      spec.options.method = merge_method_from_name(scalar<std::string>(path, kv.second, key), where(path, kv.second));
      have_method = true;
    } else if (key == "base_model") {
      spec.base_model = scalar<std::string>(path, kv.second, key);
    } else if (key == "parameters") {
      read_input_parameters(path, kv.second, &defaults);
    } else if (key == "lora_merge") {
      spec.lora_merge = lora_merge_mode_from_name(scalar<std::string>(path, kv.second, key), where(path, kv.second));
    } else if (key == "majority_sign") {
      auto v = scalar<std::string>(path, kv.second, key);
      if (v != "total" && v != "frequency")
        throw Error(where(path, kv.second) + ": majority_sign must be total or frequency, not '" + v + "'");
      spec.options.sign_by_frequency = v == "frequency";
    } else if (key == "seed") {
      spec.options.seed = scalar<uint64_t>(path, kv.second, key);
    } else if (key == "models") {
      // read below, once the defaults are known
    } else {
      throw Error(where(path, kv.first) + ": unknown key '" + key +
                  "'; valid: merge_method, base_model, models, parameters, lora_merge, majority_sign, seed");
    }
  }
  if (!have_method) throw Error(path + ": missing key 'merge_method'");
  if (spec.base_model.empty()) throw Error(path + ": missing key 'base_model'");
  const YAML::Node models = root["models"];
  if (!models || !models.IsSequence() || models.size() == 0)
    throw Error(path + ": 'models' must be a non-empty list of {model: DIR, parameters: {...}}");
  for (const auto& item : models) {
    if (!item.IsMap() || !item["model"]) throw Error(where(path, item) + ": each entry of 'models' needs 'model: DIR'");
    for (const auto& kv : item) {
      const std::string key = kv.first.as<std::string>();
      if (key != "model" && key != "parameters")
        throw Error(where(path, kv.first) + ": unknown key '" + key + "' in a models entry; valid: model, parameters");
    }
    Source s{scalar<std::string>(path, item["model"], "model"), defaults};
    read_input_parameters(path, item["parameters"], &s.input);
    spec.sources.push_back(s);
  }
  return spec;
}

LlamaForCausalLM run_merge(const MergeSpec& spec, PeftAdapter* merged_adapter) {
  LoadedModel base = load_model_dir(spec.base_model);
  std::vector<MergeInput> inputs;
  std::vector<PeftAdapter> adapters;
  std::vector<LlamaForCausalLM> models;
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
    merge_models_into(base.model, models, inputs, spec.options);
    return base.model;
  }
  if (spec.lora_merge == LoraMergeMode::Peft) {
    PeftAdapter merged = merge_adapters_peft(adapters, inputs, spec.options);
    apply_peft_adapter(base.model, merged);
    merge_lora(base.model);
    if (merged_adapter) *merged_adapter = std::move(merged);
  } else {
    merge_adapter_deltas_into(base.model, adapters, inputs, spec.options);
  }
  return base.model;
}

}  // namespace loom
