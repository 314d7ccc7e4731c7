#include "loom/models/llama/llama_config.h"

#include <cmath>

#include "loom/core/error.h"
#include "loom/core/json.h"

namespace loom {

int64_t LlamaConfig::num_parameters() const {
  const int64_t d = hidden_size, hd = resolved_head_dim();
  const int64_t attn = d * hd * num_attention_heads * 2 + d * hd * num_key_value_heads * 2;
  const int64_t mlp = 3 * d * intermediate_size;
  const int64_t per_layer = attn + mlp + 2 * d;
  return vocab_size * d * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * per_layer + d;
}

void LlamaConfig::validate(const std::string& origin) const {
  auto require = [&](bool ok, const std::string& why) {
    if (!ok) throw Error(origin + ": " + why);
  };
  // Upper bounds well above every published Llama-family config (vocab 256k,
  // hidden 16k, intermediate 53k, 126 layers, 128 heads, 10M positions at most).
  auto in_range = [&](int64_t value, const char* name, int64_t max) {
    require(value > 0 && value <= max,
            std::string(name) + " must lie in [1, " + std::to_string(max) + "], got " + std::to_string(value));
  };
  in_range(vocab_size, "vocab_size", int64_t{1} << 24);
  in_range(hidden_size, "hidden_size", int64_t{1} << 17);
  in_range(intermediate_size, "intermediate_size", int64_t{1} << 19);
  in_range(num_hidden_layers, "num_hidden_layers", int64_t{1} << 12);
  in_range(num_attention_heads, "num_attention_heads", int64_t{1} << 12);
  in_range(num_key_value_heads, "num_key_value_heads", int64_t{1} << 12);
  require(num_attention_heads % num_key_value_heads == 0,
          "num_attention_heads must be a multiple of num_key_value_heads");
  require(head_dim >= 0 && head_dim <= (int64_t{1} << 12),
          "head_dim must lie in [0, 4096] (0: hidden_size / num_attention_heads)");
  require(head_dim > 0 || hidden_size % num_attention_heads == 0,
          "hidden_size must be divisible by num_attention_heads (or set head_dim)");
  require(resolved_head_dim() > 0 && resolved_head_dim() % 2 == 0, "head_dim must be even for rotary embeddings");
  in_range(max_position_embeddings, "max_position_embeddings", int64_t{1} << 24);
  require(rms_norm_eps > 0 && std::isfinite(rms_norm_eps), "rms_norm_eps must be positive and finite");
  require(rope_theta > 0 && std::isfinite(rope_theta), "rope_theta must be positive and finite");
  for (auto [id, name] :
       {std::pair{bos_token_id, "bos_token_id"}, {eos_token_id, "eos_token_id"}, {pad_token_id, "pad_token_id"}})
    require(id < vocab_size, std::string(name) + " is outside the vocabulary");
}

LlamaConfig LlamaConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  LlamaConfig c;
  auto get_int = [&](const char* key, int64_t* out, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) throw Error(origin + ": missing field '" + key + "'");
      return;
    }
    // HF writes a list for models with several EOS tokens; loom uses the first.
    const nlohmann::json& v = j[key].is_array() && !j[key].empty() ? j[key][0] : j[key];
    if (!v.is_number_integer()) throw Error(origin + ": field '" + key + "' must be an integer");
    *out = v.get<int64_t>();
  };
  auto get_float = [&](const char* key, double* out) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_number()) throw Error(origin + ": field '" + key + "' must be a number");
    *out = j[key].get<double>();
  };
  if (j.contains("model_type") && j["model_type"] != "llama")
    throw Error(origin + ": model_type is " + j["model_type"].dump() + "; loom implements \"llama\"");
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    throw Error(origin + ": hidden_act " + j["hidden_act"].dump() + " is unsupported (Llama uses \"silu\")");
  for (const char* key : {"attention_bias", "mlp_bias"})
    if (j.contains(key) && j[key].is_boolean() && j[key].get<bool>())
      throw Error(origin + ": " + key + "=true is unsupported");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    throw Error(origin + ": rope_scaling is not supported yet (only plain RoPE)");
  get_int("vocab_size", &c.vocab_size, true);
  get_int("hidden_size", &c.hidden_size, true);
  get_int("intermediate_size", &c.intermediate_size, true);
  get_int("num_hidden_layers", &c.num_hidden_layers, true);
  get_int("num_attention_heads", &c.num_attention_heads, true);
  c.num_key_value_heads = c.num_attention_heads;
  get_int("num_key_value_heads", &c.num_key_value_heads, false);
  get_int("head_dim", &c.head_dim, false);
  get_int("max_position_embeddings", &c.max_position_embeddings, false);
  get_float("rms_norm_eps", &c.rms_norm_eps);
  get_float("rope_theta", &c.rope_theta);
  get_float("initializer_range", &c.initializer_range);
  if (j.contains("tie_word_embeddings")) {
    if (!j["tie_word_embeddings"].is_boolean()) throw Error(origin + ": tie_word_embeddings must be a boolean");
    c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  get_int("bos_token_id", &c.bos_token_id, false);
  get_int("eos_token_id", &c.eos_token_id, false);
  get_int("pad_token_id", &c.pad_token_id, false);
  c.validate(origin);
  return c;
}

LlamaConfig LlamaConfig::load(const std::string& path) { return from_json(read_json_file(path), path); }

nlohmann::json LlamaConfig::to_json() const {
  nlohmann::json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", resolved_head_dim()},
      {"max_position_embeddings", max_position_embeddings},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"rope_scaling", nullptr},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"mlp_bias", false},
      {"initializer_range", initializer_range},
      {"tie_word_embeddings", tie_word_embeddings},
      {"torch_dtype", "float32"},
  };
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_id >= 0) j["eos_token_id"] = eos_token_id;
  if (pad_token_id >= 0) j["pad_token_id"] = pad_token_id;
  return j;
}

}  // namespace loom
