// Model directories, as Hugging Face lays them out: config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json and
// generation_config.json. Loading dispatches on config.json's model_type
// (models/model_registry.h), so any registered family loads. Writes are
// atomic per file; config.json is written last, so a directory that has one
// is complete.
//
//   loom::save_model_dir("out/model", *model, tokenizer);
//   loom::LoadedModel m = loom::load_model_dir("out/model");
//   auto llama = loom::as_llama(m.model, "out/model");   // family-specific access
#pragma once
#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "loom/core/tokenizer.h"
#include "loom/models/causal_lm.h"
#include "loom/models/llama/llama.h"
#include "loom/tensor/tensor_io.h"

namespace loom {

// The model's own weights under their Hugging Face names: every parameter
// except those attached extensions (LoRA factors) registered on its linear
// layers, in registration order.
NamedTensors model_state(torch::nn::Module& model);
// Copies weights in; every expected tensor must be present with the right
// shape, and no unknown tensor may be left over (but those the model
// ignores). Errors name `origin` and the tensor.
void load_model_state(CausalLMImpl& model, const std::map<std::string, torch::Tensor>& tensors,
                      const std::string& origin);

struct GenerationDefaults {
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t max_new_tokens = 64;
};

void save_model_dir(const std::string& dir, CausalLMImpl& model, const Tokenizer& tokenizer,
                    const GenerationDefaults& generation = {});

struct LoadedModel {
  nlohmann::json config;  // config.json as read
  CausalLM model;
  Tokenizer tokenizer;
  GenerationDefaults generation;
};
LoadedModel load_model_dir(const std::string& dir);

// The Llama behind `model`, or an error naming `origin` and the model type.
std::shared_ptr<LlamaForCausalLMImpl> as_llama(const CausalLM& model, const std::string& origin);

// A fresh model of the same family and shape with the same weights.
CausalLM clone_model(CausalLMImpl& model);

}  // namespace loom
