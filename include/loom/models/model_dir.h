// Model directories and tensor files. A model directory holds, as Hugging Face
// does: config.json, model.safetensors, tokenizer.json, tokenizer_config.json
// and generation_config.json. Writes are atomic per file; the weights file is
// written last-but-one so that a directory with config.json is complete.
//
//   loom::save_model_dir("out/model", model, tokenizer);
//   loom::LoadedModel m = loom::load_model_dir("out/model");
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "loom/core/tokenizer.h"
#include "loom/tensor/tensor_io.h"
#include "loom/models/llama/llama.h"

namespace loom {

// The base weights under Hugging Face names (lm_head omitted when tied).
// Attached LoRA factors are not part of it: see model/lora.h.
NamedTensors model_state(LlamaForCausalLM& model);
bool is_lora_parameter(const std::string& name);
// Copies weights in; every expected tensor must be present with the right
// shape, and no unknown tensor may be left over. Errors name the tensor.
void load_model_state(LlamaForCausalLM& model, const std::map<std::string, torch::Tensor>& tensors,
                      const std::string& origin);

struct GenerationDefaults {
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t max_new_tokens = 64;
};

void save_model_dir(const std::string& dir, LlamaForCausalLM& model, const Tokenizer& tokenizer,
                    const GenerationDefaults& generation = {});

struct LoadedModel {
  LlamaConfig config;
  LlamaForCausalLM model{nullptr};
  Tokenizer tokenizer;
  GenerationDefaults generation;
};
LoadedModel load_model_dir(const std::string& dir);

}  // namespace loom
