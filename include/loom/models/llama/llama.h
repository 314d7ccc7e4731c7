// A Llama-architecture decoder in LibTorch: RMSNorm, rotary position
// embeddings driven by explicit per-token position ids, SwiGLU MLP,
// grouped-query attention, optional tied embeddings. Parameter names match
// Hugging Face's LlamaForCausalLM (model.layers.N.self_attn.q_proj.weight, ...).
//
// The forward pass takes a packed token stream: every batch, padded or not, is
// a flat [T] sequence plus cu_seqlens segment boundaries (see core/collate.h).
//
//   loom::LlamaForCausalLM model(cfg);
//   auto batch = loom::to_tensors(packed);
//   torch::Tensor loss_sum = model->loss_sum(batch);
#pragma once
#include <torch/torch.h>

#include <optional>
#include <vector>

#include "loom/core/collate.h"
#include "loom/tensor/batch.h"
#include "loom/tensor/eval_mode.h"
#include "loom/models/llama/llama_config.h"
#include "loom/adapters/lora_config.h"

namespace loom {

// Per-layer key/value cache for generation.
struct KVCache {
  std::vector<torch::Tensor> keys, values;  // per layer: [positions, kv_heads, head_dim]
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(0); }
};

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Cos/sin tables for the rotary embedding (the rotate-half convention HF uses).
class RotaryEmbedding {
 public:
  RotaryEmbedding(int64_t head_dim, int64_t max_positions, double theta);
  struct Tables {
    torch::Tensor cos, sin;  // [T, 1, head_dim] for one batch's positions
  };
  // Gathers the tables for int64 positions [T]; throws on out-of-range ids.
  Tables tables(const torch::Tensor& positions) const;
  // x: [T, heads, head_dim].
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& positions) const;
  torch::Tensor apply(const torch::Tensor& x, const Tables& tables) const;

 private:
  torch::Tensor cos_, sin_;  // [max_positions, head_dim]
};

// A bias-free linear projection (y = x Wᵀ) that can carry a LoRA adapter:
// y = x Wᵀ + scaling · dropout(x) Aᵀ Bᵀ, with A [r, in] and B [out, r]
// registered as `lora_A.weight` / `lora_B.weight`, the names PEFT uses.
// Attaching and merging adapters lives in model/lora.h.
class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int64_t in_features, int64_t out_features);
  torch::Tensor forward(const torch::Tensor& x);
  bool has_lora() const { return !lora_A.is_empty(); }

  torch::Tensor weight;  // [out, in]
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};
  double lora_scaling = 0.0;
  double lora_dropout = 0.0;
};
TORCH_MODULE(Projection);

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const LlamaConfig& cfg);
  // Training/eval over a packed stream.
  torch::Tensor forward(const torch::Tensor& x, const RotaryEmbedding& rope, const RotaryEmbedding::Tables& angles,
                        const torch::Tensor& cu_seqlens, int64_t max_seqlen);
  // Incremental decoding: appends this call's keys/values to the cache.
  torch::Tensor forward_cached(const torch::Tensor& x, const torch::Tensor& positions, const RotaryEmbedding& rope,
                               torch::Tensor* k_cache, torch::Tensor* v_cache);
  Projection q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(LlamaAttention);

class LlamaMLPImpl : public torch::nn::Module {
 public:
  explicit LlamaMLPImpl(const LlamaConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);
  Projection gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const LlamaConfig& cfg);
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const LlamaConfig& cfg);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  explicit LlamaForCausalLMImpl(const LlamaConfig& cfg);

  // Final hidden states [T, hidden] for a packed stream.
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& position_ids,
                              const torch::Tensor& cu_seqlens, int64_t max_seqlen);
  // Logits [T, vocab].
  torch::Tensor forward(const BatchTensors& batch);
  // Sum of token cross-entropies over labels != -100 (callers divide by the
  // label-token count of the whole accumulated batch).
  torch::Tensor loss_sum(const BatchTensors& batch);
  // Logits [n, vocab] for n new tokens, extending `cache`.
  torch::Tensor forward_cached(const torch::Tensor& input_ids, KVCache* cache);

  torch::Tensor output_weight() const;  // lm_head, or the embedding when tied
  const LlamaConfig& config() const { return cfg_; }
  // Initialises weights as HF does: N(0, initializer_range), norms to 1.
  void reset_parameters(uint64_t seed);

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings
  // Set while LoRA adapters are attached (see model/lora.h).
  std::optional<LoraConfig> lora;

 private:
  LlamaConfig cfg_;
  RotaryEmbedding rope_;
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace loom
