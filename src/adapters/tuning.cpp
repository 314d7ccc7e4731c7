#include "loom/adapters/tuning.h"

#include "loom/core/error.h"

namespace loom {

const EnumNames<Tuning>& tuning_names() {
  static const EnumNames<Tuning> names = {{Tuning::Full, "full"}, {Tuning::Lora, "lora"}};
  return names;
}

Tuning tuning_from_name(const std::string& name, const std::string& origin) {
  for (const auto& [t, n] : tuning_names())
    if (n == name) return t;
  throw Error(origin + ": unknown tuning '" + name + "'; valid: lora, full");
}

const char* tuning_name(Tuning tuning) { return tuning == Tuning::Lora ? "lora" : "full"; }

const ParamSchema<TuningOptions>& tuning_schema() {
  using O = TuningOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add_enum("tuning", &O::tuning, tuning_names(), "full: every weight trains; lora: LoRA adapters on a frozen base")
        .add_nested<int64_t>("lora_r", [](O& o) -> int64_t& { return o.lora.r; }, "LoRA rank",
                             {1, double(kMaxLoraRank)})
        .add_nested<double>("lora_alpha", [](O& o) -> double& { return o.lora.alpha; }, "LoRA alpha (scaling alpha/r)",
                            {-1e6, 1e6})
        .add_nested<double>("lora_dropout", [](O& o) -> double& { return o.lora.dropout; },
                            "dropout on the LoRA path's input", {0, 0.999})
        .add_nested<std::vector<std::string>>(
            "lora_targets", [](O& o) -> std::vector<std::string>& { return o.lora.target_modules; },
            "linear layers that get adapters, by module name (PEFT's rule: q_proj selects every "
            "...self_attn.q_proj), comma-separated, or all")
        .add_nested<std::vector<std::string>>(
            "lora_modules_to_save", [](O& o) -> std::vector<std::string>& { return o.lora.modules_to_save; },
            "modules trained in full beside the adapters and saved with them (PEFT's modules_to_save), "
            "comma-separated, e.g. lm_head,embed_tokens; empty = none");
    return s;
  }();
  return schema;
}

void validate_tuning(const TuningOptions& options) {
  if (options.tuning == Tuning::Lora)
    options.lora.validate("LoRA settings (lora_r, lora_alpha, lora_dropout, lora_targets)");
}

}  // namespace loom
