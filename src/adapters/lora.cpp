#include "loom/adapters/lora.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/tensor/tensor_io.h"

namespace loom {
namespace fs = std::filesystem;

torch::Tensor LoraExtension::forward(LinearImpl& host, const torch::Tensor& x, const torch::Tensor& base) {
  const double p = config_.dropout;
  auto lora_in = p > 0 && host.is_training() ? torch::nn::functional::dropout(
                                                   x, torch::nn::functional::DropoutFuncOptions().p(p).training(true))
                                             : x;
  return base + lora_B(lora_A(lora_in)) * scaling_;
}

torch::Tensor LoraExtension::delta_weight() const { return torch::matmul(lora_B->weight, lora_A->weight) * scaling_; }

namespace {

const std::string kPeftPrefix = "base_model.model.";

void remove_adapter(LinearImpl& layer) {
  layer.unregister_module("lora_A");
  layer.unregister_module("lora_B");
  layer.set_extension(nullptr);
}

void set_trainable(torch::nn::Module& model, bool trainable) {
  for (auto& p : model.parameters()) p.set_requires_grad(trainable);
}

bool is_factor_key(const std::string& name) {
  for (const char* suffix : {".lora_A.weight", ".lora_B.weight"})
    if (name.size() > 14 && name.compare(name.size() - 14, 14, suffix) == 0) return true;
  return false;
}

}  // namespace

std::vector<std::pair<std::string, LoraExtension*>> lora_adapters(torch::nn::Module& model) {
  std::vector<std::pair<std::string, LoraExtension*>> out;
  for (auto& [name, layer] : linear_layers(model))
    if (auto* lora = dynamic_cast<LoraExtension*>(layer->extension())) out.push_back({name, lora});
  return out;
}

bool has_lora(torch::nn::Module& model) { return !lora_adapters(model).empty(); }

std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> modules_to_save(
    torch::nn::Module& model, const std::vector<std::string>& names, const std::string& origin) {
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> out;
  for (const auto& wanted : names) {
    bool any = false;
    for (const auto& item : model.named_modules("", /*include_self=*/false)) {
      const std::string& n = item.key();
      const bool match =
          n == wanted || (n.size() > wanted.size() && n.compare(n.size() - wanted.size(), wanted.size(), wanted) == 0 &&
                          n[n.size() - wanted.size() - 1] == '.');
      if (!match || item.value()->parameters(/*recurse=*/false).empty()) continue;
      out.push_back({n, item.value()});
      any = true;
    }
    if (!any)
      throw Error(origin + ": modules_to_save entry '" + wanted +
                  "' selects no module with parameters (a tied lm_head is embed_tokens)");
  }
  return out;
}

void attach_lora(torch::nn::Module& model, const LoraConfig& requested, uint64_t seed) {
  requested.validate("LoRA config");
  auto layers = find_linear_layers(model, requested.target_modules, "LoRA target_modules");
  auto saved = modules_to_save(model, requested.modules_to_save, "LoRA modules_to_save");
  for (auto& [name, layer] : linear_layers(model))
    if (layer->extension())
      throw Error("layer '" + name + "' already carries a " + layer->extension()->kind() +
                  " extension; merge it first");
  // The config records the layers it selected by name, as PEFT writes them.
  LoraConfig config = requested;
  config.target_modules = target_suffixes(layers);
  torch::NoGradGuard no_grad;
  set_trainable(model, false);
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, layer] : layers) {
    const int64_t out = layer->out_features(), in = layer->in_features();
    auto linear = [](int64_t i, int64_t o) { return torch::nn::Linear(torch::nn::LinearOptions(i, o).bias(false)); };
    auto a = layer->register_module("lora_A", linear(in, config.r));
    auto b = layer->register_module("lora_B", linear(config.r, out));
    // PEFT's default: kaiming_uniform_(a=sqrt(5)) on A, i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0.
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    a->weight.uniform_(-bound, bound, gen);
    b->weight.zero_();
    layer->set_extension(std::make_shared<LoraExtension>(a, b, config));
  }
  for (auto& [name, module] : saved)
    for (auto& p : module->parameters(/*recurse=*/false)) p.set_requires_grad(true);
}

std::map<std::string, torch::Tensor> lora_delta_weights(torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> out;
  torch::NoGradGuard no_grad;
  for (auto& [name, lora] : lora_adapters(model)) out[name] = lora->delta_weight();
  return out;
}

void detach_lora(torch::nn::Module& model) {
  for (auto& [name, layer] : linear_layers(model))
    if (dynamic_cast<LoraExtension*>(layer->extension())) remove_adapter(*layer);
  set_trainable(model, true);
}

void merge_lora(torch::nn::Module& model) {
  if (!has_lora(model)) return;
  auto deltas = lora_delta_weights(model);
  torch::NoGradGuard no_grad;
  for (auto& [name, layer] : linear_layers(model))
    if (deltas.count(name)) layer->weight.add_(deltas.at(name));
  detach_lora(model);
}

std::vector<std::pair<std::string, torch::Tensor>> lora_A_matrices(torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [name, lora] : lora_adapters(model)) out.push_back({name, lora->lora_A->weight});
  return out;
}

// ---------- PEFT files ----------

std::string PeftAdapter::key(const std::string& module, char factor) {
  return kPeftPrefix + module + ".lora_" + factor + ".weight";
}

std::string PeftAdapter::saved_key(const std::string& module, const std::string& parameter) {
  return kPeftPrefix + module + "." + parameter;
}

std::map<std::string, torch::Tensor> PeftAdapter::saved_tensors() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, t] : tensors)
    if (!is_factor_key(k)) out[k] = t;
  return out;
}

const torch::Tensor& PeftAdapter::factor(const std::string& module, char which) const {
  auto it = tensors.find(key(module, which));
  if (it == tensors.end()) throw Error(origin + ": adapter has no tensor '" + key(module, which) + "'");
  return it->second;
}

std::vector<std::string> PeftAdapter::modules() const {
  std::set<std::string> names;
  for (const auto& [k, t] : tensors)
    if (is_factor_key(k)) names.insert(k.substr(kPeftPrefix.size(), k.find(".lora_") - kPeftPrefix.size()));
  return {names.begin(), names.end()};
}

PeftAdapter peft_adapter_of(torch::nn::Module& model) {
  auto adapters = lora_adapters(model);
  if (adapters.empty()) throw Error("the model carries no LoRA adapter");
  PeftAdapter a;
  a.config = adapters.front().second->config();
  a.origin = "attached adapter";
  for (auto& [name, lora] : adapters) {
    a.tensors[PeftAdapter::key(name, 'A')] = lora->lora_A->weight.detach().clone();
    a.tensors[PeftAdapter::key(name, 'B')] = lora->lora_B->weight.detach().clone();
  }
  for (auto& [name, module] : modules_to_save(model, a.config.modules_to_save, "LoRA modules_to_save"))
    for (const auto& p : module->named_parameters(/*recurse=*/false))
      a.tensors[PeftAdapter::saved_key(name, p.key())] = p.value().detach().clone();
  return a;
}

void save_peft_adapter(const std::string& dir, const PeftAdapter& adapter) {
  make_dirs(dir);
  NamedTensors named(adapter.tensors.begin(), adapter.tensors.end());
  // Weights first, config last: a directory with adapter_config.json is complete.
  save_tensors(dir + "/adapter_model.safetensors", named, {{"format", "pt"}});
  write_file_atomic(dir + "/adapter_config.json", adapter.config.to_peft_json().dump(2));
}

void save_peft_adapter(const std::string& dir, torch::nn::Module& model) {
  save_peft_adapter(dir, peft_adapter_of(model));
}

PeftAdapter load_peft_adapter(const std::string& dir) {
  const std::string config_path = dir + "/adapter_config.json", weights_path = dir + "/adapter_model.safetensors";
  if (!fs::exists(config_path)) throw Error(dir + ": not a PEFT adapter directory (no adapter_config.json)");
  if (!fs::exists(weights_path)) throw Error(dir + ": adapter_model.safetensors is missing");
  PeftAdapter a;
  a.origin = dir;
  nlohmann::json j = read_json_file(config_path);
  a.config = LoraConfig::from_peft_json(j, config_path);
  auto is_saved_module_tensor = [&](const std::string& name) {
    const std::string rest = name.substr(std::min(name.size(), kPeftPrefix.size()));
    const std::string module = rest.substr(0, rest.rfind('.'));
    for (const auto& m : a.config.modules_to_save)
      if (module == m || (module.size() > m.size() && module.compare(module.size() - m.size(), m.size(), m) == 0 &&
                          module[module.size() - m.size() - 1] == '.'))
        return name.rfind(kPeftPrefix, 0) == 0 && rest.find('.') != std::string::npos;
    return false;
  };
  for (auto& [name, t] : load_tensors(weights_path)) {
    if (!is_factor_key(name) && is_saved_module_tensor(name)) {
      a.tensors[name] = t.to(torch::kFloat);
      continue;
    }
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

void apply_peft_adapter(torch::nn::Module& model, const PeftAdapter& adapter) {
  // Shapes first: attaching allocates r x (in + out) values per targeted
  // layer, so the adapter's own tensors must hold every one of them before
  // anything is allocated (a config's r alone could ask for gigabytes).
  const int64_t r = adapter.config.r;
  for (auto& [name, layer] :
       find_linear_layers(model, adapter.config.target_modules, adapter.origin + ": target_modules")) {
    for (char which : {'A', 'B'}) {
      const auto& src = adapter.factor(name, which);
      const std::vector<int64_t> need =
          which == 'A' ? std::vector<int64_t>{r, layer->in_features()} : std::vector<int64_t>{layer->out_features(), r};
      if (src.sizes() != c10::IntArrayRef(need))
        throw Error(adapter.origin + ": tensor '" + PeftAdapter::key(name, which) + "' has shape " +
                    c10::str(src.sizes()) + " but the model needs " + c10::str(need) +
                    " (was the adapter trained on this base?)");
    }
  }
  attach_lora(model, adapter.config, 0);
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  try {
    for (auto& [name, lora] : lora_adapters(model)) {
      for (char which : {'A', 'B'}) {
        auto& dst = which == 'A' ? lora->lora_A->weight : lora->lora_B->weight;
        dst.copy_(adapter.factor(name, which));
        used.insert(PeftAdapter::key(name, which));
      }
    }
    // modules_to_save: every shape checked before any weight is overwritten.
    std::vector<std::pair<torch::Tensor, const torch::Tensor*>> copies;
    for (auto& [name, module] : modules_to_save(model, adapter.config.modules_to_save, adapter.origin))
      for (auto& p : module->named_parameters(/*recurse=*/false)) {
        const std::string key = PeftAdapter::saved_key(name, p.key());
        auto it = adapter.tensors.find(key);
        if (it == adapter.tensors.end())
          throw Error(adapter.origin + ": modules_to_save lists '" + name + "' but the file has no '" + key + "'");
        if (it->second.sizes() != p.value().sizes())
          throw Error(adapter.origin + ": tensor '" + key + "' has shape " + c10::str(it->second.sizes()) +
                      " but the model needs " + c10::str(p.value().sizes()));
        copies.push_back({p.value(), &it->second});
        used.insert(key);
      }
    for (const auto& [name, t] : adapter.tensors)
      if (!used.count(name))
        throw Error(adapter.origin + ": tensor '" + name + "' matches no targeted module of this model");
    for (auto& [dst, src] : copies) dst.copy_(*src);
  } catch (...) {
    detach_lora(model);
    throw;
  }
}

}  // namespace loom
