#include "loom/models/llama/llama.h"

#include <ATen/CPUGeneratorImpl.h>

#include "loom/core/error.h"
#include "loom/nn/fused_ops.h"
#include "loom/nn/varlen_attention.h"

namespace loom {

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& cfg)
    : heads_(cfg.num_attention_heads), kv_heads_(cfg.num_key_value_heads), head_dim_(cfg.resolved_head_dim()) {
  q_proj = register_module("q_proj", Linear(cfg.hidden_size, heads_ * head_dim_));
  k_proj = register_module("k_proj", Linear(cfg.hidden_size, kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", Linear(cfg.hidden_size, kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", Linear(heads_ * head_dim_, cfg.hidden_size));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const RotaryEmbedding& rope,
                                          const RotaryEmbedding::Tables& angles, const torch::Tensor& cu_seqlens,
                                          int64_t max_seqlen) {
  const int64_t T = x.size(0);
  auto q = rope.apply(q_proj(x).view({T, heads_, head_dim_}), angles);
  auto k = rope.apply(k_proj(x).view({T, kv_heads_, head_dim_}), angles);
  auto v = v_proj(x).view({T, kv_heads_, head_dim_});
  auto out = varlen_attention(q, k, v, cu_seqlens, max_seqlen);
  return o_proj(out.reshape({T, heads_ * head_dim_}));
}

torch::Tensor LlamaAttentionImpl::forward_cached(const torch::Tensor& x, const torch::Tensor& positions,
                                                 const RotaryEmbedding& rope, torch::Tensor* k_cache,
                                                 torch::Tensor* v_cache) {
  const int64_t n = x.size(0);
  auto q = rope.apply(q_proj(x).view({n, heads_, head_dim_}), positions);
  auto k = rope.apply(k_proj(x).view({n, kv_heads_, head_dim_}), positions);
  auto v = v_proj(x).view({n, kv_heads_, head_dim_});
  *k_cache = k_cache->defined() ? torch::cat({*k_cache, k}, 0) : k;
  *v_cache = v_cache->defined() ? torch::cat({*v_cache, v}, 0) : v;
  auto out = cached_attention(q, *k_cache, *v_cache);
  return o_proj(out.reshape({n, heads_ * head_dim_}));
}

FeedForwardBlock llama_mlp(const LlamaConfig& cfg, int64_t) {
  return {"mlp", std::make_shared<SwiGluImpl>(cfg.hidden_size, cfg.intermediate_size)};
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& cfg, FeedForwardBlock block) {
  self_attn = register_module("self_attn", LlamaAttention(cfg));
  mlp = register_module(block.name, block.module);
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& cfg, const FeedForwardFactory& factory) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(cfg.vocab_size, cfg.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(cfg, factory(cfg, i)));
  norm = register_module("norm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& cfg, const FeedForwardFactory& factory)
    : cfg_(cfg), rope_(cfg.resolved_head_dim(), cfg.max_position_embeddings, cfg.rope_theta) {
  cfg.validate("model config");
  model = register_module("model", LlamaModel(cfg, factory));
  if (!cfg.tie_word_embeddings)
    lm_head = register_module("lm_head",
                              torch::nn::Linear(torch::nn::LinearOptions(cfg.hidden_size, cfg.vocab_size).bias(false)));
  reset_parameters(0);
}

void LlamaForCausalLMImpl::reset_parameters(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : named_parameters()) {
    if (p.value().dim() == 1)
      p.value().fill_(1.0);
    else
      p.value().normal_(0.0, cfg_.initializer_range, gen);
  }
}

torch::Tensor LlamaForCausalLMImpl::output_weight() const {
  return cfg_.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

LlamaDecoderLayerImpl& LlamaForCausalLMImpl::layer(int64_t i) {
  return *model->layers->ptr(static_cast<size_t>(i))->as<LlamaDecoderLayerImpl>();
}

bool LlamaForCausalLMImpl::ignores_tensor(const std::string& name) const {
  // Old HF checkpoints store the rotary table; tied models may still carry lm_head.
  return name.find("rotary_emb.inv_freq") != std::string::npos ||
         (name == "lm_head.weight" && cfg_.tie_word_embeddings);
}

torch::Tensor LlamaForCausalLMImpl::hidden_states(const torch::Tensor& input_ids, const torch::Tensor& position_ids,
                                                  const torch::Tensor& cu_seqlens, int64_t max_seqlen,
                                                  ForwardRecord* record) {
  if (input_ids.numel() > 0 &&
      (input_ids.min().item<int64_t>() < 0 || input_ids.max().item<int64_t>() >= cfg_.vocab_size))
    throw Error("input token id outside the vocabulary of " + std::to_string(cfg_.vocab_size));
  auto h = model->embed_tokens(input_ids);
  const auto angles = rope_.tables(position_ids);  // gathered once, shared by every layer
  for (const auto& module : *model->layers) {
    auto layer = module->as<LlamaDecoderLayerImpl>();
    h = h + layer->self_attn(layer->input_layernorm(h), rope_, angles, cu_seqlens, max_seqlen);
    h = h + layer->mlp->forward(layer->post_attention_layernorm(h), record);
    if (record && record->keep_layer_hidden) record->layer_hidden.push_back(h);
  }
  return model->norm(h);
}

ModelOutput LlamaForCausalLMImpl::forward_hidden(const BatchTensors& batch, bool keep_layer_hidden) {
  ModelOutput out;
  out.record.keep_layer_hidden = keep_layer_hidden;
  out.hidden = hidden_states(batch.input_ids, batch.position_ids, batch.cu_seqlens, batch.max_seqlen, &out.record);
  return out;
}

torch::Tensor LlamaForCausalLMImpl::forward_cached(const torch::Tensor& input_ids, KVCache* cache) {
  const int64_t past = cache->length(), n = input_ids.size(0);
  if (cache->keys.empty()) {
    cache->keys.resize(static_cast<size_t>(cfg_.num_hidden_layers));
    cache->values.resize(static_cast<size_t>(cfg_.num_hidden_layers));
  }
  auto positions = torch::arange(past, past + n, torch::kLong);
  auto h = model->embed_tokens(input_ids);
  size_t i = 0;
  for (const auto& module : *model->layers) {
    auto layer = module->as<LlamaDecoderLayerImpl>();
    h = h + layer->self_attn->forward_cached(layer->input_layernorm(h), positions, rope_, &cache->keys[i],
                                             &cache->values[i]);
    h = h + layer->mlp->forward(layer->post_attention_layernorm(h), nullptr);
    ++i;
  }
  return torch::matmul(model->norm(h), output_weight().t());
}

}  // namespace loom
