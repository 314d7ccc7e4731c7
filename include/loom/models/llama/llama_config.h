// The Llama architecture's hyper-parameters, read from and written to a
// Hugging Face `config.json` with LlamaConfig's field names.
//
//   auto cfg = loom::LlamaConfig::load("model/config.json");
//   cfg.num_key_value_heads = 2;  // grouped-query attention
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace loom {

struct LlamaConfig {
  int64_t vocab_size = 4096;
  int64_t hidden_size = 256;
  int64_t intermediate_size = 688;
  int64_t num_hidden_layers = 4;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 4;
  int64_t head_dim = 0;  // 0 = hidden_size / num_attention_heads
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  double initializer_range = 0.02;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;
  int64_t pad_token_id = -1;

  int64_t resolved_head_dim() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  int64_t num_parameters() const;
  // The RoPE cos/sin tables the model computes: 2 x max_position_embeddings x head_dim.
  int64_t num_rope_values() const { return 2 * max_position_embeddings * resolved_head_dim(); }
  // Throws loom::Error naming the field that is inconsistent or out of
  // range; the ranges keep num_parameters() far from int64 overflow.
  void validate(const std::string& origin) const;

  static LlamaConfig from_json(const nlohmann::json& json, const std::string& origin);
  static LlamaConfig load(const std::string& path);
  nlohmann::json to_json() const;
};

}  // namespace loom
