// Model families by config.json `model_type`: how a family builds a model
// from its config. Model directories (models/model_dir.h) dispatch on it, so
// every command that loads a model (generate, eval, finetune, merge, the
// knowledge harness) works with every registered family. Adding a family is
// a file that defines its entry plus one line in register_all_model_families().
// Image classifiers (models/image_classifier.h) are families too, built by
// classifier_from_config instead of from_config.
//
//   loom::CausalLM model = loom::model_from_config(config_json, "model/config.json");
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/registry.h"
#include "loom/models/causal_lm.h"

namespace loom {

class ImageClassifierImpl;

// What a model of some config allocates when it is built, in values.
struct ModelSize {
  int64_t parameters = 0;  // its weights, as a model directory stores them
  int64_t buffers = 0;     // tables computed from the config (RoPE)
};

struct ModelFamily {
  std::string help;
  // Hugging Face `architectures` entries that mean this family, for configs
  // without a model_type.
  std::vector<std::string> architectures;
  // A model with the config's shape (weights initialised, not loaded);
  // errors name `origin` and the field.
  std::function<CausalLM(const nlohmann::json& config, const std::string& origin)> from_config;
  // The same config's size, computed without allocating, so that a model
  // directory can compare it with its weights file first.
  std::function<ModelSize(const nlohmann::json& config, const std::string& origin)> size_of;
  // For image-classifier families (models/image_classifier.h) instead of
  // from_config, which such a family leaves empty.
  std::function<std::shared_ptr<ImageClassifierImpl>(const nlohmann::json& config, const std::string& origin)>
      classifier_from_config{};
};

Registry<ModelFamily>& model_families();

// The family named by config's model_type (or, without one, its architectures).
std::string model_type_of(const nlohmann::json& config, const std::string& origin);
CausalLM model_from_config(const nlohmann::json& config, const std::string& origin);
std::shared_ptr<ImageClassifierImpl> classifier_from_config(const nlohmann::json& config, const std::string& origin);
ModelSize model_size_of(const nlohmann::json& config, const std::string& origin);

}  // namespace loom
