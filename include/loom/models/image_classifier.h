// The interface of image classifiers in loom (the elastic CNN's extracted
// subnets, docs/tofa.md), beside causal_lm.h's language models. A family
// registers under its config.json `model_type` in model_registry.h with
// `classifier_from_config` (and `size_of`), and its model directories load
// through the same path as every other model: config.json's type, the size
// check against the weights file, the registered builder, strict
// tensor-by-tensor loading. Directories hold config.json and
// model.safetensors (every parameter and buffer, e.g. BN statistics);
// config.json is written last, so a directory that has one is complete.
//
//   loom::save_image_classifier_dir("out/subnet", *model, {{"budget", "latency_ms=0.3"}});
//   loom::LoadedClassifier m = loom::load_image_classifier_dir("out/subnet");
//   torch::Tensor logits = m.model->forward(images);   // [N, C, H, W] -> [N, classes]
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace loom {

class ImageClassifierImpl : public torch::nn::Module {
 public:
  // config.json's model_type ("loom_tofa_cnn", ...).
  virtual std::string model_type() const = 0;
  // What config.json holds (model_type included).
  virtual nlohmann::json config_json() const = 0;
  virtual int64_t in_channels() const = 0;
  virtual int64_t image_size() const = 0;  // square inputs
  virtual int64_t num_classes() const = 0;
  // Logits [N, classes] for images [N, in_channels, H, W].
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
};
using ImageClassifier = std::shared_ptr<ImageClassifierImpl>;

// config.json (the model's config_json(), plus `extra` under "extra" when
// given) and model.safetensors; each file written atomically.
void save_image_classifier_dir(const std::string& dir, ImageClassifierImpl& model, const nlohmann::json& extra = {});

struct LoadedClassifier {
  nlohmann::json config;  // config.json as read
  ImageClassifier model;  // in eval mode
};
// Errors name the directory, file, field or tensor: no directory, a missing
// file, an unknown model_type (listing the registered ones), a language
// model's directory, a config the weights cannot hold, a missing,
// unexpected or misshapen tensor, NaN weights.
LoadedClassifier load_image_classifier_dir(const std::string& dir);

}  // namespace loom
