#include "loom/models/llama/llama.h"

#include <ATen/CPUGeneratorImpl.h>

#include "loom/core/error.h"
#include "loom/nn/fused_ops.h"
#include "loom/nn/varlen_attention.h"

namespace loom {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) { return rms_norm(x, weight, eps_); }

RotaryEmbedding::RotaryEmbedding(int64_t head_dim, int64_t max_positions, double theta) {
  torch::NoGradGuard no_grad;
  auto inv_freq =
      1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, torch::kDouble) / static_cast<double>(head_dim));
  auto freqs = torch::outer(torch::arange(max_positions, torch::kDouble), inv_freq);
  auto emb = torch::cat({freqs, freqs}, -1);
  cos_ = emb.cos().to(torch::kFloat);
  sin_ = emb.sin().to(torch::kFloat);
}

RotaryEmbedding::Tables RotaryEmbedding::tables(const torch::Tensor& positions) const {
  if (positions.numel() > 0 && (positions.max().item<int64_t>() >= cos_.size(0) || positions.min().item<int64_t>() < 0))
    throw Error("position ids must lie in [0, max_position_embeddings=" + std::to_string(cos_.size(0)) + ")");
  return {cos_.index_select(0, positions).unsqueeze(1), sin_.index_select(0, positions).unsqueeze(1)};
}

torch::Tensor RotaryEmbedding::apply(const torch::Tensor& x, const torch::Tensor& positions) const {
  return apply(x, tables(positions));
}

torch::Tensor RotaryEmbedding::apply(const torch::Tensor& x, const Tables& t) const {
  const auto& cos = t.cos;
  const auto& sin = t.sin;
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

ProjectionImpl::ProjectionImpl(int64_t in_features, int64_t out_features) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
}

torch::Tensor ProjectionImpl::forward(const torch::Tensor& x) {
  auto y = torch::nn::functional::linear(x, weight);
  if (!has_lora()) return y;
  auto lora_in = lora_dropout > 0 && is_training()
                     ? torch::nn::functional::dropout(
                           x, torch::nn::functional::DropoutFuncOptions().p(lora_dropout).training(true))
                     : x;
  return y + lora_B(lora_A(lora_in)) * lora_scaling;
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& cfg)
    : heads_(cfg.num_attention_heads), kv_heads_(cfg.num_key_value_heads), head_dim_(cfg.resolved_head_dim()) {
  q_proj = register_module("q_proj", Projection(cfg.hidden_size, heads_ * head_dim_));
  k_proj = register_module("k_proj", Projection(cfg.hidden_size, kv_heads_ * head_dim_));
  v_proj = register_module("v_proj", Projection(cfg.hidden_size, kv_heads_ * head_dim_));
  o_proj = register_module("o_proj", Projection(heads_ * head_dim_, cfg.hidden_size));
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

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& cfg) {
  gate_proj = register_module("gate_proj", Projection(cfg.hidden_size, cfg.intermediate_size));
  up_proj = register_module("up_proj", Projection(cfg.hidden_size, cfg.intermediate_size));
  down_proj = register_module("down_proj", Projection(cfg.intermediate_size, cfg.hidden_size));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& cfg) {
  self_attn = register_module("self_attn", LlamaAttention(cfg));
  mlp = register_module("mlp", LlamaMLP(cfg));
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& cfg) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(cfg.vocab_size, cfg.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(cfg));
  norm = register_module("norm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& cfg)
    : cfg_(cfg), rope_(cfg.resolved_head_dim(), cfg.max_position_embeddings, cfg.rope_theta) {
  cfg.validate("model config");
  model = register_module("model", LlamaModel(cfg));
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

torch::Tensor LlamaForCausalLMImpl::hidden_states(const torch::Tensor& input_ids, const torch::Tensor& position_ids,
                                                  const torch::Tensor& cu_seqlens, int64_t max_seqlen) {
  if (input_ids.numel() > 0 &&
      (input_ids.min().item<int64_t>() < 0 || input_ids.max().item<int64_t>() >= cfg_.vocab_size))
    throw Error("input token id outside the vocabulary of " + std::to_string(cfg_.vocab_size));
  auto h = model->embed_tokens(input_ids);
  const auto angles = rope_.tables(position_ids);  // gathered once, shared by every layer
  for (const auto& module : *model->layers) {
    auto layer = module->as<LlamaDecoderLayerImpl>();
    h = h + layer->self_attn(layer->input_layernorm(h), rope_, angles, cu_seqlens, max_seqlen);
    h = h + layer->mlp(layer->post_attention_layernorm(h));
  }
  return model->norm(h);
}

torch::Tensor LlamaForCausalLMImpl::forward(const BatchTensors& batch) {
  auto h = hidden_states(batch.input_ids, batch.position_ids, batch.cu_seqlens, batch.max_seqlen);
  return torch::matmul(h, output_weight().t());
}

torch::Tensor LlamaForCausalLMImpl::loss_sum(const BatchTensors& batch) {
  auto h = hidden_states(batch.input_ids, batch.position_ids, batch.cu_seqlens, batch.max_seqlen);
  // Only rows with a label reach the vocabulary projection: with prompt masking
  // or padding that skips a large share of the biggest matmul.
  auto keep = batch.labels.ne(kIgnoreLabel).nonzero().squeeze(1);
  if (keep.numel() == 0) return h.sum() * 0.0;
  auto logits = torch::matmul(h.index_select(0, keep), output_weight().t());
  return torch::nn::functional::cross_entropy(logits, batch.labels.index_select(0, keep),
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
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
    h = h + layer->mlp(layer->post_attention_layernorm(h));
    ++i;
  }
  return torch::matmul(model->norm(h), output_weight().t());
}

}  // namespace loom
