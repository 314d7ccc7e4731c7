// LoRA on a Llama model: attach adapters to the q/k/v/o/gate/up/down
// projections (the base is frozen), merge them into the weights
// (PEFT's merge_and_unload), and move them in and out of the Hugging Face
// PEFT format: `adapter_config.json` + `adapter_model.safetensors` with keys
// `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`.
//
//   loom::attach_lora(model, cfg, /*seed=*/0);      // only A and B train
//   ... train ...
//   loom::save_peft_adapter("out/adapter", model);
//   loom::merge_lora(model);                          // W += scaling * B A
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "loom/models/llama/llama.h"
#include "loom/adapters/lora_config.h"
#include "loom/models/model_dir.h"

namespace loom {

// The projections a target list selects, by module name
// ("model.layers.0.self_attn.q_proj"), in layer order.
std::vector<std::pair<std::string, Projection>> target_projections(LlamaForCausalLM& model,
                                                                   const std::vector<std::string>& targets);

// Adds fresh adapters (A ~ PEFT's Kaiming-uniform init, B = 0, so the model's
// output is unchanged) and freezes every base parameter. Refuses a model that
// already carries adapters.
void attach_lora(LlamaForCausalLM& model, const LoraConfig& config, uint64_t seed);
bool has_lora(LlamaForCausalLM& model);

// W += scaling · B·A for every adapter, removes the adapters and unfreezes
// the base (PEFT's merge_and_unload).
void merge_lora(LlamaForCausalLM& model);

// ΔW = scaling · B·A per adapted module, by module name.
std::map<std::string, torch::Tensor> lora_delta_weights(LlamaForCausalLM& model);
// The attached A matrices [r, in] in module order (O-LoRA's subspaces).
std::vector<std::pair<std::string, torch::Tensor>> lora_A_matrices(LlamaForCausalLM& model);

// An adapter as stored on disk: its config and tensors under PEFT's names.
struct PeftAdapter {
  LoraConfig config;
  std::map<std::string, torch::Tensor> tensors;
  std::string origin;  // the directory, for errors

  static std::string key(const std::string& module, char factor);  // factor 'A' or 'B'
  const torch::Tensor& factor(const std::string& module, char which) const;
  // Module names the adapter covers, sorted.
  std::vector<std::string> modules() const;
};

PeftAdapter peft_adapter_of(LlamaForCausalLM& model);
void save_peft_adapter(const std::string& dir, const PeftAdapter& adapter);
void save_peft_adapter(const std::string& dir, LlamaForCausalLM& model);
// Reads and checks the files: config fields, key names, A/B pairs, rank r.
PeftAdapter load_peft_adapter(const std::string& dir);
// Attaches `adapter` to `model`. Every module the config targets must be in
// the file and every shape must match; errors name the tensor.
void apply_peft_adapter(LlamaForCausalLM& model, const PeftAdapter& adapter);

}  // namespace loom
