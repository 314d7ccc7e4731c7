#include "loom/adapters/lora_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "loom/core/error.h"
#include "loom/core/params.h"

namespace loom {

std::vector<std::string> parse_lora_targets(const std::string& text, const std::string& origin) {
  if (text == "all" || text == "all-linear") return {text};
  LoraConfig probe;
  probe.target_modules = split_list(text);
  probe.validate(origin);
  return probe.target_modules;
}

double LoraConfig::scaling() const { return use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / r; }

void LoraConfig::validate(const std::string& origin) const {
  if (r < 1 || r > kMaxLoraRank)
    throw Error(origin + ": r must lie in [1, " + std::to_string(kMaxLoraRank) + "], got " + std::to_string(r));
  if (!(dropout >= 0 && dropout < 1)) throw Error(origin + ": lora_dropout must lie in [0, 1)");
  if (!std::isfinite(alpha)) throw Error(origin + ": lora_alpha must be finite");
  if (target_modules.empty())
    throw Error(origin + ": target_modules is empty (give module names such as q_proj, v_proj, or all-linear)");
  for (const auto& t : target_modules) {
    const bool plain = !t.empty() && std::all_of(t.begin(), t.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
    if (!plain) throw Error(origin + ": target module '" + t + "' is not a module name");
  }
  for (const auto& m : modules_to_save)
    if (m.empty() || !std::all_of(m.begin(), m.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
        }))
      throw Error(origin + ": modules_to_save entry '" + m + "' is not a module name");
}

nlohmann::json LoraConfig::to_peft_json() const {
  return {{"peft_type", "LORA"},
          {"task_type", "CAUSAL_LM"},
          {"r", r},
          {"lora_alpha", alpha},
          {"lora_dropout", dropout},
          {"target_modules", target_modules},
          {"use_rslora", use_rslora},
          {"use_dora", false},
          {"bias", "none"},
          {"fan_in_fan_out", false},
          {"init_lora_weights", true},
          {"inference_mode", true},
          {"modules_to_save", modules_to_save.empty() ? nlohmann::json(nullptr) : nlohmann::json(modules_to_save)},
          {"layers_to_transform", nullptr},
          {"rank_pattern", nlohmann::json::object()},
          {"alpha_pattern", nlohmann::json::object()},
          {"base_model_name_or_path", base_model_name_or_path}};
}

LoraConfig LoraConfig::from_peft_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.contains(key)) throw Error(origin + ": missing field '" + key + "'");
    return j.at(key);
  };
  auto refuse_if = [&](bool bad, const std::string& what) {
    if (bad) throw Error(origin + ": " + what + " is not supported by loom");
  };
  LoraConfig c;
  try {
    if (j.contains("peft_type") && j.at("peft_type") != "LORA")
      throw Error(origin + ": peft_type is " + j.at("peft_type").dump() + ", expected \"LORA\"");
    // get<int64_t>() would truncate 4.7 to 4 and wrap 1e30: take integers only.
    const auto& r = field("r");
    if (!r.is_number_integer() || (r.is_number_unsigned() && r.get<uint64_t>() > uint64_t(kMaxLoraRank)))
      throw Error(origin + ": field 'r' must be an integer in [1, " + std::to_string(kMaxLoraRank) + "], got " +
                  r.dump());
    c.r = r.get<int64_t>();
    if (!field("lora_alpha").is_number()) throw Error(origin + ": field 'lora_alpha' must be a number");
    c.alpha = field("lora_alpha").get<double>();
    if (j.contains("lora_dropout") && !j.at("lora_dropout").is_number())
      throw Error(origin + ": field 'lora_dropout' must be a number");
    c.dropout = j.value("lora_dropout", 0.0);
    const auto& targets = field("target_modules");
    if (targets.is_string())
      c.target_modules = parse_lora_targets(targets.get<std::string>(), origin + ": target_modules");
    else
      c.target_modules = targets.get<std::vector<std::string>>();
    c.use_rslora = j.value("use_rslora", false);
    c.base_model_name_or_path = j.contains("base_model_name_or_path") && j.at("base_model_name_or_path").is_string()
                                    ? j.at("base_model_name_or_path").get<std::string>()
                                    : "";
    refuse_if(j.value("use_dora", false), "use_dora: true (DoRA)");
    refuse_if(j.value("fan_in_fan_out", false), "fan_in_fan_out: true");
    refuse_if(j.contains("bias") && j.at("bias") != "none", "bias other than \"none\"");
    if (j.contains("modules_to_save") && !j.at("modules_to_save").is_null())
      c.modules_to_save = j.at("modules_to_save").get<std::vector<std::string>>();
    refuse_if(j.contains("layers_to_transform") && !j.at("layers_to_transform").is_null(), "layers_to_transform");
    refuse_if(j.contains("rank_pattern") && !j.at("rank_pattern").empty(), "a non-empty rank_pattern");
    refuse_if(j.contains("alpha_pattern") && !j.at("alpha_pattern").empty(), "a non-empty alpha_pattern");
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": " + e.what());
  }
  c.validate(origin);
  return c;
}

}  // namespace loom
