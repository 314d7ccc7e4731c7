// LoRA on any model: adapters attach to the loom::Linear layers a target list
// selects (adapters/targets.h, PEFT's naming rule), the rest of the model is
// frozen, and y = x Wᵀ + scaling · B A dropout(x) with A [r, in] and B
// [out, r] registered on the layer as `lora_A.weight` / `lora_B.weight`, the
// names PEFT uses. Adapters merge into the weights (PEFT's merge_and_unload)
// and move in and out of the Hugging Face PEFT format:
// `adapter_config.json` + `adapter_model.safetensors` with keys
// `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`.
//
// modules_to_save (e.g. lm_head, embed_tokens) train in full beside the
// adapters. PEFT holds them as `<name>.modules_to_save.default.weight` in the
// live model and its get_peft_model_state_dict strips "modules_to_save." and
// ".default" on saving, so the file holds `base_model.model.lm_head.weight`;
// loom writes and reads exactly that. loom trains the module in place (PEFT
// trains a copy): merging keeps the trained weights, as merge_and_unload does.
//
//   loom::attach_lora(*model, cfg, /*seed=*/0);      // only A and B train
//   ... train ...
//   loom::save_peft_adapter("out/adapter", *model);
//   loom::merge_lora(*model);                         // W += scaling * B A
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "loom/adapters/lora_config.h"
#include "loom/adapters/targets.h"
#include "loom/nn/linear.h"

namespace loom {

// The extension a LoRA adapter is, on one linear layer.
class LoraExtension : public LinearExtension {
 public:
  LoraExtension(torch::nn::Linear a, torch::nn::Linear b, const LoraConfig& config)
      : lora_A(std::move(a)), lora_B(std::move(b)), config_(config), scaling_(config.scaling()) {}
  torch::Tensor forward(LinearImpl& host, const torch::Tensor& x, const torch::Tensor& base) override;
  std::string kind() const override { return "lora"; }
  // scaling · B A, [out, in].
  torch::Tensor delta_weight() const;
  const LoraConfig& config() const { return config_; }

  torch::nn::Linear lora_A, lora_B;

 private:
  LoraConfig config_;
  double scaling_;
};

// Adds fresh adapters to the layers config.target_modules selects (A ~
// PEFT's Kaiming-uniform init, B = 0, so the output is unchanged) and
// freezes every other parameter except those of config.modules_to_save. Refuses a model whose layers already carry
// an extension.
void attach_lora(torch::nn::Module& model, const LoraConfig& config, uint64_t seed);
bool has_lora(torch::nn::Module& model);
// The attached adapters by module name, in registration order.
std::vector<std::pair<std::string, LoraExtension*>> lora_adapters(torch::nn::Module& model);

// W += scaling · B·A for every adapter, removes the adapters and unfreezes
// the model (PEFT's merge_and_unload).
void merge_lora(torch::nn::Module& model);
// Removes the adapters without merging (modules_to_save keep their weights).
void detach_lora(torch::nn::Module& model);

// The modules config.modules_to_save selects, by full name; an entry that
// selects nothing is an error naming it.
std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> modules_to_save(
    torch::nn::Module& model, const std::vector<std::string>& names, const std::string& origin);

// ΔW = scaling · B·A per adapted module, by module name.
std::map<std::string, torch::Tensor> lora_delta_weights(torch::nn::Module& model);
// The attached A matrices [r, in] in module order (O-LoRA's subspaces).
std::vector<std::pair<std::string, torch::Tensor>> lora_A_matrices(torch::nn::Module& model);

// An adapter as stored on disk: its config and tensors under PEFT's names.
struct PeftAdapter {
  LoraConfig config;
  std::map<std::string, torch::Tensor> tensors;
  std::string origin;  // the directory, for errors

  static std::string key(const std::string& module, char factor);  // factor 'A' or 'B'
  // A modules_to_save tensor: base_model.model.<module>.<parameter>.
  static std::string saved_key(const std::string& module, const std::string& parameter);
  const torch::Tensor& factor(const std::string& module, char which) const;
  // Module names the adapter covers with A/B factors, sorted.
  std::vector<std::string> modules() const;
  // The modules_to_save tensors by key.
  std::map<std::string, torch::Tensor> saved_tensors() const;
};

PeftAdapter peft_adapter_of(torch::nn::Module& model);
void save_peft_adapter(const std::string& dir, const PeftAdapter& adapter);
void save_peft_adapter(const std::string& dir, torch::nn::Module& model);
// Reads and checks the files: config fields, key names, A/B pairs, rank r.
PeftAdapter load_peft_adapter(const std::string& dir);
// Attaches `adapter` to `model`. Every module the config targets must be in
// the file and every shape must match; errors name the tensor.
void apply_peft_adapter(torch::nn::Module& model, const PeftAdapter& adapter);

}  // namespace loom
