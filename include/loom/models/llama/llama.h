// A Llama-architecture decoder in LibTorch: RMSNorm, rotary position
// embeddings driven by explicit per-token position ids, SwiGLU MLP,
// grouped-query attention, optional tied embeddings. Parameter names match
// Hugging Face's LlamaForCausalLM (model.layers.N.self_attn.q_proj.weight, ...).
//
// The forward pass takes a packed token stream: every batch, padded or not, is
// a flat [T] sequence plus cu_seqlens segment boundaries (see core/collate.h).
// Each decoder layer's feed-forward block comes from a factory, so a family
// built on this one (a mixture of experts, an elastic width) swaps the block
// and keeps the rest.
//
//   loom::LlamaForCausalLM model(cfg);
//   auto batch = loom::to_tensors(packed);
//   torch::Tensor loss_sum = model->loss_sum(batch);
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loom/models/causal_lm.h"
#include "loom/models/llama/llama_config.h"
#include "loom/nn/feed_forward.h"
#include "loom/nn/layers.h"
#include "loom/nn/linear.h"

namespace loom {

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const LlamaConfig& cfg);
  // Training/eval over a packed stream.
  torch::Tensor forward(const torch::Tensor& x, const RotaryEmbedding& rope, const RotaryEmbedding::Tables& angles,
                        const torch::Tensor& cu_seqlens, int64_t max_seqlen);
  // Incremental decoding: appends this call's keys/values to the cache.
  torch::Tensor forward_cached(const torch::Tensor& x, const torch::Tensor& positions, const RotaryEmbedding& rope,
                               torch::Tensor* k_cache, torch::Tensor* v_cache);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(LlamaAttention);

// A decoder layer's feed-forward block and the name it is registered under
// ("mlp" for Llama; Mixtral calls its block "block_sparse_moe").
struct FeedForwardBlock {
  std::string name;
  std::shared_ptr<FeedForwardImpl> module;
};
// Builds layer `layer`'s block. The default is Llama's SwiGLU MLP.
using FeedForwardFactory = std::function<FeedForwardBlock(const LlamaConfig& cfg, int64_t layer)>;
FeedForwardBlock llama_mlp(const LlamaConfig& cfg, int64_t layer);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  LlamaDecoderLayerImpl(const LlamaConfig& cfg, FeedForwardBlock block);
  LlamaAttention self_attn{nullptr};
  std::shared_ptr<FeedForwardImpl> mlp;
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

class LlamaModelImpl : public torch::nn::Module {
 public:
  LlamaModelImpl(const LlamaConfig& cfg, const FeedForwardFactory& factory);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

class LlamaForCausalLMImpl : public CausalLMImpl {
 public:
  explicit LlamaForCausalLMImpl(const LlamaConfig& cfg, const FeedForwardFactory& factory = llama_mlp);

  std::string model_type() const override { return "llama"; }
  nlohmann::json config_json() const override { return cfg_.to_json(); }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t hidden_size() const override { return cfg_.hidden_size; }
  int64_t max_positions() const override { return cfg_.max_position_embeddings; }
  int64_t num_layers() const override { return cfg_.num_hidden_layers; }
  ModelOutput forward_hidden(const BatchTensors& batch, bool keep_layer_hidden = false) override;
  torch::Tensor output_weight() const override;  // lm_head, or the embedding when tied
  torch::Tensor forward_cached(const torch::Tensor& input_ids, KVCache* cache) override;
  // Initialises weights as HF does: N(0, initializer_range), norms to 1.
  void reset_parameters(uint64_t seed) override;
  bool ignores_tensor(const std::string& name) const override;

  // Final hidden states [T, hidden] for a packed stream.
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& position_ids,
                              const torch::Tensor& cu_seqlens, int64_t max_seqlen, ForwardRecord* record = nullptr);
  const LlamaConfig& config() const { return cfg_; }
  LlamaDecoderLayerImpl& layer(int64_t i);

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings

 protected:
  LlamaConfig cfg_;
  RotaryEmbedding rope_;
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace loom
