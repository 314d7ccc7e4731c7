// The YAML merge description (mergekit's layout), validated against the
// parameters each merge method declares.
#include <algorithm>

#include "loom/core/error.h"
#include "loom/core/yaml.h"
#include "loom/merge/merge.h"

namespace loom {

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

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Reads a `parameters` mapping; keys must be ones the method takes.
void read_input_parameters(const std::string& path, const YAML::Node& params, const MergeMethodEntry& method,
                           const std::string& method_name, MergeInput* input) {
  if (!params) return;
  if (!params.IsMap()) throw Error(where(path, params) + ": 'parameters' must be a mapping");
  for (const auto& kv : params) {
    const std::string key = kv.first.as<std::string>();
    const auto& valid = method.source_parameters;
    if (std::find(valid.begin(), valid.end(), key) == valid.end())
      throw Error(where(path, kv.first) + ": merge_method " + method_name + " takes no parameter '" + key +
                  "'; valid: " + joined(valid));
    if (key == "weight") input->weight = scalar<double>(path, kv.second, key);
    if (key == "density") input->density = scalar<double>(path, kv.second, key);
  }
  if (!(input->density > 0 && input->density <= 1)) throw Error(where(path, params) + ": density must lie in (0, 1]");
}

}  // namespace

MergeSpec MergeSpec::load(const std::string& path) {
  const YAML::Node root = load_yaml_file(path);
  if (!root.IsMap()) throw Error(path + ": a merge description is a YAML mapping");
  MergeSpec spec;
  MergeInput defaults;
  const YAML::Node method_node = root["merge_method"];
  if (!method_node) throw Error(path + ": missing key 'merge_method'");
  spec.options.method = scalar<std::string>(path, method_node, "merge_method");
  const MergeMethodEntry& method = merge_methods().get(spec.options.method, where(path, method_node));
  auto require_option = [&](const std::string& key, const YAML::Node& node) {
    const auto& valid = method.method_options;
    if (std::find(valid.begin(), valid.end(), key) == valid.end())
      throw Error(where(path, node) + ": '" + key + "' does not apply to merge_method " + spec.options.method +
                  (valid.empty() ? std::string() : " (it takes: " + joined(valid) + ")"));
  };
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key == "merge_method") {
      // read above
    } else if (key == "base_model") {
      spec.base_model = scalar<std::string>(path, kv.second, key);
    } else if (key == "parameters") {
      read_input_parameters(path, kv.second, method, spec.options.method, &defaults);
    } else if (key == "lora_merge") {
      spec.lora_merge = lora_merge_mode_from_name(scalar<std::string>(path, kv.second, key), where(path, kv.second));
    } else if (key == "majority_sign") {
      require_option(key, kv.first);
      auto v = scalar<std::string>(path, kv.second, key);
      if (v != "total" && v != "frequency")
        throw Error(where(path, kv.second) + ": majority_sign must be total or frequency, not '" + v + "'");
      spec.options.sign_by_frequency = v == "frequency";
    } else if (key == "seed") {
      require_option(key, kv.first);
      spec.options.seed = scalar<uint64_t>(path, kv.second, key);
    } else if (key == "models") {
      // read below, once the defaults are known
    } else {
      throw Error(where(path, kv.first) + ": unknown key '" + key +
                  "'; valid: merge_method, base_model, models, parameters, lora_merge, majority_sign, seed");
    }
  }
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
    read_input_parameters(path, item["parameters"], method, spec.options.method, &s.input);
    spec.sources.push_back(s);
  }
  return spec;
}

std::string MergeSpec::to_yaml() const {
  const MergeMethodEntry& method = merge_methods().get(options.method);
  auto takes = [&](const std::vector<std::string>& keys, const std::string& key) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "merge_method" << YAML::Value << options.method;
  out << YAML::Key << "base_model" << YAML::Value << base_model;
  out << YAML::Key << "lora_merge" << YAML::Value << (lora_merge == LoraMergeMode::Peft ? "peft" : "delta");
  if (takes(method.method_options, "majority_sign"))
    out << YAML::Key << "majority_sign" << YAML::Value << (options.sign_by_frequency ? "frequency" : "total");
  if (takes(method.method_options, "seed")) out << YAML::Key << "seed" << YAML::Value << options.seed;
  out << YAML::Key << "models" << YAML::Value << YAML::BeginSeq;
  for (const auto& s : sources) {
    out << YAML::BeginMap << YAML::Key << "model" << YAML::Value << s.path;
    out << YAML::Key << "parameters" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "weight" << YAML::Value << s.input.weight;
    if (takes(method.source_parameters, "density")) out << YAML::Key << "density" << YAML::Value << s.input.density;
    out << YAML::EndMap << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace loom
