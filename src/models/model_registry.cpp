#include "loom/models/model_registry.h"

#include "loom/core/error.h"
#include "loom/models/image_classifier.h"
#include "loom/models/llama/llama.h"

namespace loom {

namespace {

// The one place families are listed.
void register_all_model_families(Registry<ModelFamily>& r) {
  r.add("llama", {"Llama-architecture decoder (RMSNorm, RoPE, SwiGLU, grouped-query attention)",
                  {"LlamaForCausalLM"},
                  [](const nlohmann::json& config, const std::string& origin) -> CausalLM {
                    return LlamaForCausalLM(LlamaConfig::from_json(config, origin)).ptr();
                  },
                  [](const nlohmann::json& config, const std::string& origin) {
                    const LlamaConfig c = LlamaConfig::from_json(config, origin);
                    return ModelSize{c.num_parameters(), c.num_rope_values()};
                  }});
}

}  // namespace

Registry<ModelFamily>& model_families() {
  static Registry<ModelFamily> registry("model_type", register_all_model_families);
  return registry;
}

std::string model_type_of(const nlohmann::json& config, const std::string& origin) {
  if (!config.is_object()) throw Error(origin + ": expected a JSON object");
  if (config.contains("model_type")) {
    if (!config["model_type"].is_string()) throw Error(origin + ": field 'model_type' must be a string");
    return config["model_type"].get<std::string>();
  }
  if (config.contains("architectures") && config["architectures"].is_array())
    for (const auto& arch : config["architectures"])
      for (const auto& [name, family] : model_families().entries())
        for (const auto& a : family.architectures)
          if (arch.is_string() && arch.get<std::string>() == a) return name;
  throw Error(origin + ": no model_type (and no known entry in architectures); known model types: " +
              model_families().valid_names());
}

ModelSize model_size_of(const nlohmann::json& config, const std::string& origin) {
  const std::string type = model_type_of(config, origin);
  const ModelFamily& family = model_families().get(type, origin + ": model_type");
  // size_of is optional: a family without it (sizes that depend on per-layer
  // shapes) skips the comparison with its weights file.
  return family.size_of ? family.size_of(config, origin) : ModelSize{};
}

CausalLM model_from_config(const nlohmann::json& config, const std::string& origin) {
  const std::string type = model_type_of(config, origin);
  const ModelFamily& family = model_families().get(type, origin + ": model_type");
  if (!family.from_config)
    throw Error(origin + ": model_type '" + type + "' is an image classifier, not a causal language model");
  return family.from_config(config, origin);
}

std::shared_ptr<ImageClassifierImpl> classifier_from_config(const nlohmann::json& config, const std::string& origin) {
  const std::string type = model_type_of(config, origin);
  const ModelFamily& family = model_families().get(type, origin + ": model_type");
  if (!family.classifier_from_config)
    throw Error(origin + ": model_type '" + type + "' is a causal language model, not an image classifier");
  return family.classifier_from_config(config, origin);
}

}  // namespace loom
