// How a model is tuned: every weight, or LoRA adapters on a frozen base.
// Declared once (tuning_schema()) and shared by `loom finetune` and the
// knowledge harness.
//
//   loom::TuningOptions t = loom::tuning_schema().read(params);
//   if (t.tuning == loom::Tuning::Lora) loom::attach_lora(*model, t.lora, seed);
#pragma once
#include <string>

#include "loom/adapters/lora_config.h"
#include "loom/core/param_schema.h"

namespace loom {

enum class Tuning { Full, Lora };
const EnumNames<Tuning>& tuning_names();
Tuning tuning_from_name(const std::string& name, const std::string& origin);
const char* tuning_name(Tuning tuning);

// The command line's LoRA defaults (PEFT's own defaults, e.g. dropout 0, are
// those of LoraConfig, used for adapter files that omit a field).
inline LoraConfig default_cli_lora() {
  LoraConfig c;
  c.r = 8;
  c.alpha = 16;
  c.dropout = 0.05;
  c.target_modules = {"all"};
  return c;
}

struct TuningOptions {
  Tuning tuning = Tuning::Full;
  LoraConfig lora = default_cli_lora();
};

const ParamSchema<TuningOptions>& tuning_schema();
// Checks the LoRA settings (when tuning is lora); errors name the keys.
void validate_tuning(const TuningOptions& options);

}  // namespace loom
