#include "loom/adapters/lora.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"

namespace loom {
namespace fs = std::filesystem;

namespace {

const std::string kPeftPrefix = "base_model.model.";

Projection projection_named(LlamaDecoderLayerImpl& layer, const std::string& target) {
  if (target == "q_proj") return layer.self_attn->q_proj;
  if (target == "k_proj") return layer.self_attn->k_proj;
  if (target == "v_proj") return layer.self_attn->v_proj;
  if (target == "o_proj") return layer.self_attn->o_proj;
  if (target == "gate_proj") return layer.mlp->gate_proj;
  if (target == "up_proj") return layer.mlp->up_proj;
  if (target == "down_proj") return layer.mlp->down_proj;
  throw Error("unknown LoRA target module '" + target + "'");
}

std::string module_prefix(const std::string& target) {
  return target == "gate_proj" || target == "up_proj" || target == "down_proj" ? ".mlp." : ".self_attn.";
}

void detach_lora(ProjectionImpl& p) {
  p.unregister_module("lora_A");
  p.unregister_module("lora_B");
  p.lora_A = nullptr;
  p.lora_B = nullptr;
  p.lora_scaling = 0;
  p.lora_dropout = 0;
}

}  // namespace

std::vector<std::pair<std::string, Projection>> target_projections(LlamaForCausalLM& model,
                                                                   const std::vector<std::string>& targets) {
  std::vector<std::pair<std::string, Projection>> out;
  int64_t i = 0;
  for (const auto& module : *model->model->layers) {
    auto& layer = *module->as<LlamaDecoderLayerImpl>();
    for (const auto& t : lora_target_names()) {
      if (std::find(targets.begin(), targets.end(), t) == targets.end()) continue;
      out.push_back({"model.layers." + std::to_string(i) + module_prefix(t) + t, projection_named(layer, t)});
    }
    ++i;
  }
  return out;
}

void attach_lora(LlamaForCausalLM& model, const LoraConfig& config, uint64_t seed) {
  config.validate("LoRA config");
  if (model->lora) throw Error("the model already carries LoRA adapters; merge them first");
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, proj] : target_projections(model, config.target_modules)) {
    const int64_t out = proj->weight.size(0), in = proj->weight.size(1);
    auto linear = [](int64_t i, int64_t o) { return torch::nn::Linear(torch::nn::LinearOptions(i, o).bias(false)); };
    proj->lora_A = proj->register_module("lora_A", linear(in, config.r));
    proj->lora_B = proj->register_module("lora_B", linear(config.r, out));
    // PEFT's default: kaiming_uniform_(a=sqrt(5)) on A, i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0.
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    proj->lora_A->weight.uniform_(-bound, bound, gen);
    proj->lora_B->weight.zero_();
    proj->lora_scaling = config.scaling();
    proj->lora_dropout = config.dropout;
  }
  model->lora = config;
}

bool has_lora(LlamaForCausalLM& model) { return model->lora.has_value(); }

std::map<std::string, torch::Tensor> lora_delta_weights(LlamaForCausalLM& model) {
  std::map<std::string, torch::Tensor> out;
  if (!model->lora) return out;
  torch::NoGradGuard no_grad;
  for (auto& [name, proj] : target_projections(model, model->lora->target_modules))
    out[name] = torch::matmul(proj->lora_B->weight, proj->lora_A->weight) * proj->lora_scaling;
  return out;
}

void merge_lora(LlamaForCausalLM& model) {
  if (!model->lora) return;
  auto deltas = lora_delta_weights(model);
  torch::NoGradGuard no_grad;
  for (auto& [name, proj] : target_projections(model, model->lora->target_modules)) {
    proj->weight.add_(deltas.at(name));
    detach_lora(*proj);
  }
  model->lora.reset();
  for (auto& p : model->parameters()) p.set_requires_grad(true);
}

std::vector<std::pair<std::string, torch::Tensor>> lora_A_matrices(LlamaForCausalLM& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  if (!model->lora) return out;
  for (auto& [name, proj] : target_projections(model, model->lora->target_modules))
    out.push_back({name, proj->lora_A->weight});
  return out;
}

// ---------- PEFT files ----------

std::string PeftAdapter::key(const std::string& module, char factor) {
  return kPeftPrefix + module + ".lora_" + factor + ".weight";
}

const torch::Tensor& PeftAdapter::factor(const std::string& module, char which) const {
  auto it = tensors.find(key(module, which));
  if (it == tensors.end()) throw Error(origin + ": adapter has no tensor '" + key(module, which) + "'");
  return it->second;
}

std::vector<std::string> PeftAdapter::modules() const {
  std::set<std::string> names;
  for (const auto& [k, t] : tensors) names.insert(k.substr(kPeftPrefix.size(), k.find(".lora_") - kPeftPrefix.size()));
  return {names.begin(), names.end()};
}

PeftAdapter peft_adapter_of(LlamaForCausalLM& model) {
  if (!model->lora) throw Error("the model carries no LoRA adapter");
  PeftAdapter a;
  a.config = *model->lora;
  a.origin = "attached adapter";
  for (auto& [name, proj] : target_projections(model, a.config.target_modules)) {
    a.tensors[PeftAdapter::key(name, 'A')] = proj->lora_A->weight.detach().clone();
    a.tensors[PeftAdapter::key(name, 'B')] = proj->lora_B->weight.detach().clone();
  }
  return a;
}

void save_peft_adapter(const std::string& dir, const PeftAdapter& adapter) {
  make_dirs(dir);
  NamedTensors named(adapter.tensors.begin(), adapter.tensors.end());
  // Weights first, config last: a directory with adapter_config.json is complete.
  save_tensors(dir + "/adapter_model.safetensors", named, {{"format", "pt"}});
  write_file_atomic(dir + "/adapter_config.json", adapter.config.to_peft_json().dump(2));
}

void save_peft_adapter(const std::string& dir, LlamaForCausalLM& model) {
  save_peft_adapter(dir, peft_adapter_of(model));
}

PeftAdapter load_peft_adapter(const std::string& dir) {
  const std::string config_path = dir + "/adapter_config.json", weights_path = dir + "/adapter_model.safetensors";
  if (!fs::exists(config_path)) throw Error(dir + ": not a PEFT adapter directory (no adapter_config.json)");
  if (!fs::exists(weights_path)) throw Error(dir + ": adapter_model.safetensors is missing");
  PeftAdapter a;
  a.origin = dir;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file_text(config_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(config_path + ": " + e.what());
  }
  a.config = LoraConfig::from_peft_json(j, config_path);
  for (auto& [name, t] : load_tensors(weights_path)) {
    const bool is_a = name.size() > 14 && name.compare(name.size() - 14, 14, ".lora_A.weight") == 0;
    const bool is_b = name.size() > 14 && name.compare(name.size() - 14, 14, ".lora_B.weight") == 0;
    if (name.rfind(kPeftPrefix, 0) != 0 || !(is_a || is_b))
      throw Error(weights_path + ": unexpected tensor '" + name + "' (expected " + kPeftPrefix +
                  "<module>.lora_A.weight / .lora_B.weight)");
    if (t.dim() != 2) throw Error(weights_path + ": tensor '" + name + "' is not a matrix");
    const int64_t rank = is_a ? t.size(0) : t.size(1);
    if (rank != a.config.r)
      throw Error(weights_path + ": tensor '" + name + "' has rank " + std::to_string(rank) + " but r is " +
                  std::to_string(a.config.r));
    a.tensors[name] = t.to(torch::kFloat);
  }
  for (const auto& m : a.modules()) {
    a.factor(m, 'A');
    a.factor(m, 'B');
  }
  return a;
}

void apply_peft_adapter(LlamaForCausalLM& model, const PeftAdapter& adapter) {
  attach_lora(model, adapter.config, 0);
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  try {
    for (auto& [name, proj] : target_projections(model, adapter.config.target_modules)) {
      for (char which : {'A', 'B'}) {
        const auto& src = adapter.factor(name, which);
        auto& dst = which == 'A' ? proj->lora_A->weight : proj->lora_B->weight;
        if (src.sizes() != dst.sizes())
          throw Error(adapter.origin + ": tensor '" + PeftAdapter::key(name, which) + "' has shape " +
                      c10::str(src.sizes()) + " but the model needs " + c10::str(dst.sizes()) +
                      " (was the adapter trained on this base?)");
        dst.copy_(src);
        used.insert(PeftAdapter::key(name, which));
      }
    }
    for (const auto& [name, t] : adapter.tensors)
      if (!used.count(name))
        throw Error(adapter.origin + ": tensor '" + name + "' matches no targeted module of this model");
  } catch (...) {
    for (auto& [name, proj] : target_projections(model, adapter.config.target_modules)) detach_lora(*proj);
    model->lora.reset();
    for (auto& p : model->parameters()) p.set_requires_grad(true);
    throw;
  }
}

}  // namespace loom
