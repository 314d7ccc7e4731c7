#include "loom/supernet/elastic_transformer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

#include "loom/adapters/lora.h"
#include "loom/core/error.h"
#include "loom/models/model_dir.h"
#include "loom/models/model_registry.h"
#include "loom/nn/fused_ops.h"
#include "loom/nn/varlen_attention.h"

namespace loom {

namespace F = torch::nn::functional;

// ---------- config ----------

TransformerShape ElasticTransformerConfig::shape() const {
  TransformerShape s;
  s.hidden_size = llama.hidden_size;
  s.head_dim = llama.resolved_head_dim();
  s.kv_group = llama.num_attention_heads / llama.num_key_value_heads;
  for (int64_t l = 0; l < llama.num_hidden_layers; ++l) {
    s.heads.push_back(layer_heads.empty() ? llama.num_attention_heads : layer_heads[static_cast<size_t>(l)]);
    s.ffn.push_back(layer_intermediate_sizes.empty() ? llama.intermediate_size
                                                     : layer_intermediate_sizes[static_cast<size_t>(l)]);
  }
  return s;
}

nlohmann::json ElasticTransformerConfig::to_json() const {
  nlohmann::json j = llama.to_json();
  j["model_type"] = model_type();
  j["architectures"] = {encoder ? "LoomEncoder" : "LoomElasticLlamaForCausalLM"};
  j["is_encoder"] = encoder;
  if (num_labels > 0) j["num_labels"] = num_labels;
  if (mask_token_id >= 0) j["mask_token_id"] = mask_token_id;
  if (!layer_heads.empty()) j["layer_heads"] = layer_heads;
  if (!layer_intermediate_sizes.empty()) j["layer_intermediate_sizes"] = layer_intermediate_sizes;
  return j;
}

ElasticTransformerConfig ElasticTransformerConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  ElasticTransformerConfig c;
  const std::string type = j.value("model_type", std::string());
  if (type != "loom_encoder" && type != "loom_elastic_llama")
    throw Error(origin + ": model_type " + j.value("model_type", nlohmann::json()).dump() +
                " is not loom_encoder or loom_elastic_llama");
  nlohmann::json as_llama = j;
  as_llama["model_type"] = "llama";
  c.llama = LlamaConfig::from_json(as_llama, origin);
  c.encoder = type == "loom_encoder";
  auto get_int = [&](const char* key, int64_t* out) {
    if (!j.contains(key)) return;
    if (!j[key].is_number_integer()) throw Error(origin + ": field '" + key + "' must be an integer");
    *out = j[key].get<int64_t>();
  };
  get_int("num_labels", &c.num_labels);
  get_int("mask_token_id", &c.mask_token_id);
  if (c.num_labels < 0) throw Error(origin + ": num_labels must not be negative");
  if (c.mask_token_id >= c.llama.vocab_size) throw Error(origin + ": mask_token_id is outside the vocabulary");
  const int64_t group = c.llama.num_attention_heads / c.llama.num_key_value_heads;
  auto get_list = [&](const char* key, std::vector<int64_t>* out, int64_t largest, int64_t multiple) {
    if (!j.contains(key)) return;
    if (!j[key].is_array() || static_cast<int64_t>(j[key].size()) != c.llama.num_hidden_layers)
      throw Error(origin + ": field '" + key + "' must list one size per layer (num_hidden_layers = " +
                  std::to_string(c.llama.num_hidden_layers) + ")");
    for (size_t i = 0; i < j[key].size(); ++i) {
      const auto& v = j[key][i];
      const std::string where = origin + ": " + key + "[" + std::to_string(i) + "]";
      if (!v.is_number_integer()) throw Error(where + " must be an integer");
      const int64_t n = v.get<int64_t>();
      if (n < 1 || n > largest || n % multiple != 0)
        throw Error(where + ": " + std::to_string(n) + " must lie in 1.." + std::to_string(largest) +
                    " and be a multiple of " + std::to_string(multiple));
      out->push_back(n);
    }
  };
  get_list("layer_heads", &c.layer_heads, c.llama.num_attention_heads, group);
  get_list("layer_intermediate_sizes", &c.layer_intermediate_sizes, c.llama.intermediate_size, 1);
  return c;
}

// ---------- model ----------

namespace {

LlamaConfig layer_config(const ElasticTransformerConfig& cfg, const TransformerShape& shape, int64_t l) {
  LlamaConfig c = cfg.llama;
  c.head_dim = shape.head_dim;
  c.num_attention_heads = shape.heads[static_cast<size_t>(l)];
  c.num_key_value_heads = c.num_attention_heads / shape.kv_group;
  c.intermediate_size = shape.ffn[static_cast<size_t>(l)];
  return c;
}

SwiGluImpl& swiglu(LlamaDecoderLayerImpl& layer) {
  auto* mlp = dynamic_cast<SwiGluImpl*>(layer.mlp.get());
  if (!mlp) throw Error("elastic transformer: a layer's feed-forward block is not a SwiGLU MLP");
  return *mlp;
}

LoraExtension* lora_of(LinearImpl& linear) {
  if (!linear.extension()) return nullptr;
  auto* lora = dynamic_cast<LoraExtension*>(linear.extension());
  if (!lora)
    throw Error("elastic transformer: cannot slice a linear layer that carries a " + linear.extension()->kind() +
                " extension");
  return lora;
}

// x W[:out, :in]ᵀ (+ the shared LoRA, sliced). At full size, the layer's own
// forward, so that the maxnet computes exactly what the dense model does.
torch::Tensor sliced_linear(LinearImpl& linear, const torch::Tensor& x, int64_t out, int64_t in) {
  if (out == linear.out_features() && in == linear.in_features()) return linear.forward(x);
  auto y = F::linear(x, linear.weight.narrow(0, 0, out).narrow(1, 0, in),
                     linear.bias.defined() ? linear.bias.narrow(0, 0, out) : torch::Tensor());
  if (LoraExtension* lora = lora_of(linear)) {
    const double p = lora->config().dropout;
    auto lora_in = p > 0 && linear.is_training() ? F::dropout(x, F::DropoutFuncOptions().p(p).training(true)) : x;
    auto a = lora->lora_A->weight.narrow(1, 0, in);
    auto b = lora->lora_B->weight.narrow(0, 0, out);
    y = y + F::linear(F::linear(lora_in, a), b) * lora->config().scaling();
  }
  return y;
}

// The dense weight W[:out, :in] + s · B[:out] A[:, :in].
torch::Tensor merged_weight(LinearImpl& linear, int64_t out, int64_t in) {
  auto w = linear.weight.detach().narrow(0, 0, out).narrow(1, 0, in).clone();
  if (LoraExtension* lora = lora_of(linear))
    w.add_(
        torch::matmul(lora->lora_B->weight.detach().narrow(0, 0, out), lora->lora_A->weight.detach().narrow(1, 0, in)) *
        lora->config().scaling());
  return w;
}

// Visits every tensor of the dense model `spec` describes: its name there,
// the full tensor, and the first-k sizes kept. Linear weights come with their
// layer (for the adapter).
struct SlicedEntry {
  std::string name;
  torch::Tensor full;
  std::vector<int64_t> keep;
  LinearImpl* linear = nullptr;
};

}  // namespace

ElasticTransformerImpl::ElasticTransformerImpl(const ElasticTransformerConfig& cfg)
    : cfg_(cfg),
      shape_(cfg.shape()),
      rope_(cfg.llama.resolved_head_dim(), cfg.llama.max_position_embeddings, cfg.llama.rope_theta) {
  cfg_.llama.validate("model config");
  if (!cfg_.layer_heads.empty() && static_cast<int64_t>(cfg_.layer_heads.size()) != cfg_.llama.num_hidden_layers)
    throw Error("model config: layer_heads must list one size per layer");
  if (!cfg_.layer_intermediate_sizes.empty() &&
      static_cast<int64_t>(cfg_.layer_intermediate_sizes.size()) != cfg_.llama.num_hidden_layers)
    throw Error("model config: layer_intermediate_sizes must list one size per layer");
  body_ = register_module("model", std::make_shared<torch::nn::Module>());
  embed_tokens_ =
      body_->register_module("embed_tokens", torch::nn::Embedding(cfg_.llama.vocab_size, cfg_.llama.hidden_size));
  layers_ = body_->register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < cfg_.llama.num_hidden_layers; ++l) {
    LlamaConfig c = layer_config(cfg_, shape_, l);
    layers_->push_back(LlamaDecoderLayer(c, llama_mlp(c, l)));
  }
  norm_ = body_->register_module("norm", RMSNorm(cfg_.llama.hidden_size, cfg_.llama.rms_norm_eps));
  // Encoders always tie the masked-LM head to the embedding (BERT does).
  if (!cfg_.encoder && !cfg_.llama.tie_word_embeddings)
    lm_head = register_module(
        "lm_head",
        torch::nn::Linear(torch::nn::LinearOptions(cfg_.llama.hidden_size, cfg_.llama.vocab_size).bias(false)));
  if (cfg_.num_labels > 0)
    score =
        register_module("score", torch::nn::Linear(torch::nn::LinearOptions(cfg_.llama.hidden_size, cfg_.num_labels)));
  active_ = full_spec();
  reset_parameters(0);
}

LlamaDecoderLayerImpl& ElasticTransformerImpl::layer(int64_t i) {
  return *layers_->ptr(static_cast<size_t>(i))->as<LlamaDecoderLayerImpl>();
}

void ElasticTransformerImpl::reset_parameters(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : named_parameters()) {
    if (p.key() == "score.bias")
      p.value().zero_();
    else if (p.value().dim() == 1)
      p.value().fill_(1.0);
    else
      p.value().normal_(0.0, cfg_.llama.initializer_range, gen);
  }
}

bool ElasticTransformerImpl::ignores_tensor(const std::string& name) const {
  return name.find("rotary_emb.inv_freq") != std::string::npos ||
         (name == "lm_head.weight" && (cfg_.encoder || cfg_.llama.tie_word_embeddings));
}

void ElasticTransformerImpl::set_active(const TransformerSpec& spec) {
  check_transformer_spec(spec, shape_, "subnet spec");
  active_ = spec;
}

torch::Tensor ElasticTransformerImpl::output_weight(const TransformerSpec& spec) const {
  const auto& w = lm_head ? lm_head->weight : embed_tokens_->weight;
  return w.narrow(1, 0, spec.hidden_size);
}

torch::Tensor ElasticTransformerImpl::hidden_states(const TransformerSpec& s, const BatchTensors& batch,
                                                    ForwardRecord* record, ActivationStats* stats) {
  const auto& ids = batch.input_ids;
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= cfg_.llama.vocab_size))
    throw Error("input token id outside the vocabulary of " + std::to_string(cfg_.llama.vocab_size));
  const int64_t d = s.hidden_size, hd = shape_.head_dim, T = ids.size(0);
  const double eps = cfg_.llama.rms_norm_eps;
  auto accumulate = [&](torch::Tensor target, const torch::Tensor& values) {
    torch::NoGradGuard no_grad;
    target.narrow(0, 0, values.size(-1)).add_(values.detach().abs().sum(0));
  };
  auto h = F::embedding(ids, embed_tokens_->weight.narrow(1, 0, d));
  const auto angles = rope_.tables(batch.position_ids);
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const int64_t l = s.layers[i];
    auto& lay = layer(l);
    auto& attn = *lay.self_attn;
    const int64_t heads = s.heads[i], kv = heads / shape_.kv_group, f = s.ffn[i];
    auto x = rms_norm(h, lay.input_layernorm->weight.narrow(0, 0, d), eps);
    if (stats) accumulate(stats->hidden_abs, x);
    auto q = rope_.apply(sliced_linear(*attn.q_proj, x, heads * hd, d).view({T, heads, hd}), angles);
    auto k = rope_.apply(sliced_linear(*attn.k_proj, x, kv * hd, d).view({T, kv, hd}), angles);
    auto v = sliced_linear(*attn.v_proj, x, kv * hd, d).view({T, kv, hd});
    auto a = varlen_attention(q, k, v, batch.cu_seqlens, batch.max_seqlen, /*causal=*/!cfg_.encoder);
    if (stats) {
      torch::NoGradGuard no_grad;
      stats->head_norm[static_cast<size_t>(l)].narrow(0, 0, heads).add_(a.detach().norm(2, -1).sum(0));
    }
    h = h + sliced_linear(*attn.o_proj, a.reshape({T, heads * hd}), d, heads * hd);
    x = rms_norm(h, lay.post_attention_layernorm->weight.narrow(0, 0, d), eps);
    if (stats) accumulate(stats->hidden_abs, x);
    auto& mlp = swiglu(lay);
    auto mid = swiglu_as_configured(sliced_linear(*mlp.gate_proj, x, f, d), sliced_linear(*mlp.up_proj, x, f, d));
    if (stats) accumulate(stats->ffn_abs[static_cast<size_t>(l)], mid);
    h = h + sliced_linear(*mlp.down_proj, mid, d, f);
    if (record && record->keep_layer_hidden) record->layer_hidden.push_back(h);
  }
  return rms_norm(h, norm_->weight.narrow(0, 0, d), eps);
}

ModelOutput ElasticTransformerImpl::forward_hidden(const BatchTensors& batch, bool keep_layer_hidden) {
  ModelOutput out;
  out.record.keep_layer_hidden = keep_layer_hidden;
  out.hidden = hidden_states(active_, batch, &out.record);
  return out;
}

torch::Tensor ElasticTransformerImpl::classify_hidden(const TransformerSpec& spec, const torch::Tensor& final_hidden,
                                                      const torch::Tensor& cu_seqlens) {
  if (!score) throw Error("this model has no classification head (num_labels = 0)");
  auto cu = cu_seqlens.to(torch::kLong);
  auto lengths = cu.narrow(0, 1, cu.size(0) - 1) - cu.narrow(0, 0, cu.size(0) - 1);
  auto segment = torch::repeat_interleave(torch::arange(lengths.size(0)), lengths);
  auto pooled = torch::zeros({lengths.size(0), final_hidden.size(1)}, final_hidden.options())
                    .index_add(0, segment, final_hidden) /
                lengths.unsqueeze(1).to(final_hidden.scalar_type());
  const int64_t d = spec.hidden_size;
  return F::linear(pooled, score->weight.narrow(1, 0, d), score->bias);
}

torch::Tensor ElasticTransformerImpl::classify(const TransformerSpec& spec, const BatchTensors& batch,
                                               ForwardRecord* record) {
  return classify_hidden(spec, hidden_states(spec, batch, record), batch.cu_seqlens);
}

torch::Tensor ElasticTransformerImpl::forward_cached(const torch::Tensor& input_ids, KVCache* cache) {
  if (cfg_.encoder) throw Error("an encoder (loom_encoder) does not generate text");
  const TransformerSpec& s = active_;
  const int64_t past = cache->length(), n = input_ids.size(0), d = s.hidden_size, hd = shape_.head_dim;
  if (cache->keys.empty()) {
    cache->keys.resize(s.layers.size());
    cache->values.resize(s.layers.size());
  }
  const double eps = cfg_.llama.rms_norm_eps;
  auto positions = torch::arange(past, past + n, torch::kLong);
  auto h = F::embedding(input_ids, embed_tokens_->weight.narrow(1, 0, d));
  for (size_t i = 0; i < s.layers.size(); ++i) {
    auto& lay = layer(s.layers[i]);
    auto& attn = *lay.self_attn;
    const int64_t heads = s.heads[i], kv = heads / shape_.kv_group, f = s.ffn[i];
    auto x = rms_norm(h, lay.input_layernorm->weight.narrow(0, 0, d), eps);
    auto q = rope_.apply(sliced_linear(*attn.q_proj, x, heads * hd, d).view({n, heads, hd}), positions);
    auto k = rope_.apply(sliced_linear(*attn.k_proj, x, kv * hd, d).view({n, kv, hd}), positions);
    auto v = sliced_linear(*attn.v_proj, x, kv * hd, d).view({n, kv, hd});
    auto& kc = cache->keys[i];
    auto& vc = cache->values[i];
    kc = kc.defined() ? torch::cat({kc, k}, 0) : k;
    vc = vc.defined() ? torch::cat({vc, v}, 0) : v;
    auto a = cached_attention(q, kc, vc);
    h = h + sliced_linear(*attn.o_proj, a.reshape({n, heads * hd}), d, heads * hd);
    x = rms_norm(h, lay.post_attention_layernorm->weight.narrow(0, 0, d), eps);
    auto& mlp = swiglu(lay);
    h = h + sliced_linear(
                *mlp.down_proj,
                swiglu_as_configured(sliced_linear(*mlp.gate_proj, x, f, d), sliced_linear(*mlp.up_proj, x, f, d)), d,
                f);
  }
  return torch::matmul(rms_norm(h, norm_->weight.narrow(0, 0, d), eps), output_weight(s).t());
}

namespace {

std::vector<SlicedEntry> sliced_entries(ElasticTransformerImpl& m, const TransformerSpec& s) {
  const int64_t d = s.hidden_size, hd = m.shape().head_dim, g = m.shape().kv_group;
  std::vector<SlicedEntry> out;
  out.push_back({"model.embed_tokens.weight", m.embed_tokens()->weight, {m.vocab_size(), d}});
  for (size_t i = 0; i < s.layers.size(); ++i) {
    auto& lay = m.layer(s.layers[i]);
    auto& attn = *lay.self_attn;
    auto& mlp = swiglu(lay);
    const int64_t h = s.heads[i], kv = h / g, f = s.ffn[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "self_attn.q_proj.weight", attn.q_proj->weight, {h * hd, d}, attn.q_proj.get()});
    out.push_back({p + "self_attn.k_proj.weight", attn.k_proj->weight, {kv * hd, d}, attn.k_proj.get()});
    out.push_back({p + "self_attn.v_proj.weight", attn.v_proj->weight, {kv * hd, d}, attn.v_proj.get()});
    out.push_back({p + "self_attn.o_proj.weight", attn.o_proj->weight, {d, h * hd}, attn.o_proj.get()});
    out.push_back({p + "mlp.gate_proj.weight", mlp.gate_proj->weight, {f, d}, mlp.gate_proj.get()});
    out.push_back({p + "mlp.up_proj.weight", mlp.up_proj->weight, {f, d}, mlp.up_proj.get()});
    out.push_back({p + "mlp.down_proj.weight", mlp.down_proj->weight, {d, f}, mlp.down_proj.get()});
    out.push_back({p + "input_layernorm.weight", lay.input_layernorm->weight, {d}});
    out.push_back({p + "post_attention_layernorm.weight", lay.post_attention_layernorm->weight, {d}});
  }
  out.push_back({"model.norm.weight", m.final_norm()->weight, {d}});
  if (m.lm_head) out.push_back({"lm_head.weight", m.lm_head->weight, {m.vocab_size(), d}});
  if (m.score) {
    out.push_back({"score.weight", m.score->weight, {m.score->weight.size(0), d}});
    out.push_back({"score.bias", m.score->bias, {m.score->bias.size(0)}});
  }
  return out;
}

int64_t product(const std::vector<int64_t>& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

}  // namespace

NamedTensors ElasticTransformerImpl::sliced_state(const TransformerSpec& spec) {
  check_transformer_spec(spec, shape_, "subnet spec");
  torch::NoGradGuard no_grad;
  NamedTensors out;
  for (auto& e : sliced_entries(*this, spec)) {
    if (e.linear) {
      out.push_back({e.name, merged_weight(*e.linear, e.keep[0], e.keep[1])});
      continue;
    }
    auto t = e.full.detach();
    for (size_t dim = 0; dim < e.keep.size(); ++dim) t = t.narrow(static_cast<int64_t>(dim), 0, e.keep[dim]);
    out.push_back({e.name, t.clone()});
  }
  return out;
}

int64_t ElasticTransformerImpl::parameter_count(const TransformerSpec& spec) {
  int64_t n = 0;
  for (auto& e : sliced_entries(*this, spec)) n += product(e.keep);
  return n;
}

int64_t ElasticTransformerImpl::trainable_count(const TransformerSpec& spec) {
  int64_t n = 0;
  for (auto& e : sliced_entries(*this, spec)) {
    if (e.full.requires_grad()) n += product(e.keep);
    if (!e.linear) continue;
    if (LoraExtension* lora = lora_of(*e.linear)) {
      const int64_t r = lora->config().r;
      if (lora->lora_A->weight.requires_grad()) n += r * e.keep[1];
      if (lora->lora_B->weight.requires_grad()) n += e.keep[0] * r;
    }
  }
  return n;
}

double ElasticTransformerImpl::flops(const TransformerSpec& s, int64_t seq_len) const {
  const double d = static_cast<double>(s.hidden_size), hd = static_cast<double>(shape_.head_dim);
  const double T = static_cast<double>(seq_len);
  // Average keys per query: all T for an encoder, (T + 1) / 2 under the causal mask.
  const double keys = cfg_.encoder ? T : (T + 1) / 2;
  double per_token = 0;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const double h = static_cast<double>(s.heads[i]), kv = h / static_cast<double>(shape_.kv_group),
                 f = static_cast<double>(s.ffn[i]);
    per_token += 2 * d * (h * hd) * 2 + 2 * d * (kv * hd) * 2;  // q, o; k, v
    per_token += 2 * d * f * 3;                                 // gate, up, down
    per_token += 2 * 2 * keys * h * hd;                         // QKᵀ and PV
  }
  double total = per_token * T;
  if (cfg_.num_labels > 0)
    total += 2 * d * static_cast<double>(cfg_.num_labels);  // one pooled row
  else
    total += 2 * d * static_cast<double>(cfg_.llama.vocab_size) * T;  // the LM head at every position
  return total;
}

torch::Tensor ElasticTransformerImpl::lora_projection(int64_t l) {
  LoraExtension* lora = lora_of(*layer(l).self_attn->q_proj);
  return lora ? lora->lora_A->weight : torch::Tensor();
}

std::shared_ptr<ElasticTransformerImpl> as_elastic_transformer(const CausalLM& model, const std::string& origin) {
  auto elastic = std::dynamic_pointer_cast<ElasticTransformerImpl>(model);
  if (!elastic)
    throw Error(origin + ": expected an elastic transformer (loom_encoder or loom_elastic_llama), got model_type '" +
                model->model_type() + "'");
  return elastic;
}

ElasticTransformer elastic_from_llama(LlamaForCausalLMImpl& llama) {
  ElasticTransformerConfig cfg;
  cfg.llama = llama.config();
  ElasticTransformer elastic(cfg);
  std::map<std::string, torch::Tensor> state;
  for (auto& [name, t] : model_state(llama)) state[name] = t;
  load_model_state(*elastic, state, "llama model");
  return elastic;
}

void register_supernet_model_families() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto from_config = [](const nlohmann::json& config, const std::string& origin) -> CausalLM {
      return ElasticTransformer(ElasticTransformerConfig::from_json(config, origin)).ptr();
    };
    model_families().add("loom_encoder", {"bidirectional Llama-style encoder with masked-LM and classification heads "
                                          "(supernet module)",
                                          {"LoomEncoder"},
                                          from_config,
                                          /*size_of=*/nullptr});
    model_families().add("loom_elastic_llama",
                         {"Llama decoder with per-layer head counts and FFN widths (supernet subnets)",
                          {"LoomElasticLlamaForCausalLM"},
                          from_config,
                          /*size_of=*/nullptr});
  });
}

}  // namespace loom
