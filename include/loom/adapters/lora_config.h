// A LoRA adapter's settings, with the field names of PEFT's LoraConfig
// (`adapter_config.json`): r, lora_alpha, lora_dropout, target_modules,
// use_rslora, modules_to_save (whole modules, e.g. lm_head or embed_tokens,
// that train beside the adapters and are saved with them).
//
//   loom::LoraConfig cfg;
//   cfg.r = 8; cfg.alpha = 16; cfg.target_modules = {"q_proj", "v_proj"};
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loom {

// The largest rank loom accepts: far above any useful LoRA rank, and small
// enough that r x (in + out) cannot overflow or ask for exabytes.
constexpr int64_t kMaxLoraRank = 65536;

struct LoraConfig {
  int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  std::vector<std::string> target_modules = {"q_proj", "k_proj", "v_proj", "o_proj"};
  bool use_rslora = false;  // scaling alpha/sqrt(r) instead of alpha/r
  // Modules trained in full beside the adapters, selected by PEFT's rule
  // (name equals or ends with ".name"); empty = none.
  std::vector<std::string> modules_to_save;
  std::string base_model_name_or_path;

  double scaling() const;
  // Throws loom::Error naming the bad field; `origin` prefixes the message.
  void validate(const std::string& origin) const;

  // PEFT's adapter_config.json. Fields loom cannot honour (DoRA, biases,
  // per-layer rank patterns) are refused, not ignored.
  nlohmann::json to_peft_json() const;
  static LoraConfig from_peft_json(const nlohmann::json& json, const std::string& origin);
};

// Parses "q_proj,v_proj" into a target list; "all" (or PEFT's "all-linear")
// selects every linear layer of the model (adapters/targets.h).
std::vector<std::string> parse_lora_targets(const std::string& text, const std::string& origin);

}  // namespace loom
