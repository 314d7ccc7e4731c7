#include "loom/adapters/targets.h"

#include <algorithm>

#include "loom/core/error.h"

namespace loom {

namespace {

bool selects(const std::string& target, const std::string& name) {
  if (target == "all-linear" || target == "all") return true;
  return name == target ||
         (name.size() > target.size() && name.compare(name.size() - target.size(), target.size(), target) == 0 &&
          name[name.size() - target.size() - 1] == '.');
}

std::string last_component(const std::string& name) { return name.substr(name.rfind('.') + 1); }

}  // namespace

std::vector<NamedLinear> linear_layers(torch::nn::Module& model) {
  std::vector<NamedLinear> out;
  for (const auto& item : model.named_modules("", /*include_self=*/false))
    if (auto linear = std::dynamic_pointer_cast<LinearImpl>(item.value())) out.push_back({item.key(), linear});
  return out;
}

std::vector<std::string> target_suffixes(const std::vector<NamedLinear>& layers) {
  std::vector<std::string> out;
  for (const auto& [name, layer] : layers) {
    std::string last = last_component(name);
    if (std::find(out.begin(), out.end(), last) == out.end()) out.push_back(last);
  }
  return out;
}

std::vector<NamedLinear> find_linear_layers(torch::nn::Module& model, const std::vector<std::string>& targets,
                                            const std::string& origin) {
  if (targets.empty()) throw Error(origin + ": no target modules given");
  const auto all = linear_layers(model);
  std::vector<NamedLinear> out;
  for (const auto& target : targets) {
    bool any = false;
    for (const auto& layer : all) any |= selects(target, layer.first);
    if (!any) {
      std::string valid;
      for (const auto& s : target_suffixes(all)) valid += (valid.empty() ? "" : ", ") + s;
      throw Error(origin + ": '" + target + "' selects no linear layer of this model; its linear layers: " + valid +
                  " (or all-linear)");
    }
  }
  for (const auto& layer : all)
    for (const auto& target : targets)
      if (selects(target, layer.first)) {
        out.push_back(layer);
        break;
      }
  return out;
}

std::shared_ptr<LinearImpl> linear_layer_named(torch::nn::Module& model, const std::string& name,
                                               const std::string& origin) {
  for (auto& layer : linear_layers(model))
    if (layer.first == name) return layer.second;
  throw Error(origin + ": the model has no linear layer named '" + name + "'");
}

}  // namespace loom
