// An elastic transformer: one set of super-weights that runs as any subnet
// (transformer_spec.h) by first-k slicing, for decoders (the core's Llama,
// causal attention) and encoders (bidirectional attention through the same
// varlen op, a mean-pooled classification head, and a tied masked-LM head).
// Parameter names are Hugging Face Llama's, so a `loom pretrain` model
// directory loads as a decoder maxnet, and LoRA attaches by name
// (adapters/lora.h): one shared adapter that every subnet uses sliced,
// y = x W[:o,:i]ᵀ + s · x A[:, :i]ᵀ B[:o, :]ᵀ.
//
// At the full spec the forward pass is the core Llama's, op for op. As a
// model family it is `loom_elastic_llama` (a decoder with per-layer sizes,
// what a Mix'n'Match subnet extracts to) and `loom_encoder`;
// register_supernet_model_families() adds both to the model registry, so
// every loom command loads them.
//
//   auto model = loom::ElasticTransformer(cfg);
//   model->set_active(loom::parse_transformer_spec(spec_json, model->shape(), "spec.json"));
//   auto logits = model->forward(batch);          // the active subnet
//   auto probs = model->classify(spec, batch);    // encoders: [segments, num_labels]
#pragma once
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/models/causal_lm.h"
#include "loom/models/llama/llama.h"
#include "loom/supernet/transformer_spec.h"
#include "loom/tensor/tensor_io.h"

namespace loom {

struct ElasticTransformerConfig {
  LlamaConfig llama;  // the maxnet's shape (for per-layer models: the largest layer's)
  bool encoder = false;
  int64_t num_labels = 0;      // > 0: a classification head `score` [num_labels, hidden]
  int64_t mask_token_id = -1;  // encoders: the masked-LM mask token
  // Per-layer sizes of a dense model extracted from a Mix'n'Match subnet;
  // empty = every layer as `llama` says.
  std::vector<int64_t> layer_heads, layer_intermediate_sizes;

  std::string model_type() const { return encoder ? "loom_encoder" : "loom_elastic_llama"; }
  TransformerShape shape() const;
  nlohmann::json to_json() const;
  // Errors name `origin` and the field.
  static ElasticTransformerConfig from_json(const nlohmann::json& json, const std::string& origin);
};

// Σ over calibration tokens, for importance ranking (importance.h).
struct ActivationStats {
  std::vector<torch::Tensor> head_norm;  // per layer [heads]: Σ_t ‖attention output of the head‖₂
  std::vector<torch::Tensor> ffn_abs;    // per layer [ffn]: Σ_t |silu(gate) · up|
  torch::Tensor hidden_abs;              // [hidden]: Σ_layers Σ_t |normalised input| (both norms)
};

class ElasticTransformerImpl : public CausalLMImpl {
 public:
  explicit ElasticTransformerImpl(const ElasticTransformerConfig& cfg);

  // CausalLMImpl, for the active subnet.
  std::string model_type() const override { return cfg_.model_type(); }
  nlohmann::json config_json() const override { return cfg_.to_json(); }
  int64_t vocab_size() const override { return cfg_.llama.vocab_size; }
  int64_t hidden_size() const override { return active_.hidden_size; }
  int64_t max_positions() const override { return cfg_.llama.max_position_embeddings; }
  int64_t num_layers() const override { return static_cast<int64_t>(active_.layers.size()); }
  ModelOutput forward_hidden(const BatchTensors& batch, bool keep_layer_hidden = false) override;
  torch::Tensor output_weight() const override { return output_weight(active_); }
  // Decoders only; an encoder does not generate.
  torch::Tensor forward_cached(const torch::Tensor& input_ids, KVCache* cache) override;
  void reset_parameters(uint64_t seed) override;
  bool ignores_tensor(const std::string& name) const override;

  const ElasticTransformerConfig& config() const { return cfg_; }
  const TransformerShape& shape() const { return shape_; }
  bool is_encoder() const { return cfg_.encoder; }
  const TransformerSpec& active() const { return active_; }
  // Checked against the maxnet; errors name the field.
  void set_active(const TransformerSpec& spec);
  TransformerSpec full_spec() const { return TransformerSpec::full(shape_); }

  // Final hidden states of `spec` for a packed batch (the active spec is
  // not consulted). With record->keep_layer_hidden, one state per kept layer.
  torch::Tensor hidden_states(const TransformerSpec& spec, const BatchTensors& batch, ForwardRecord* record = nullptr,
                              ActivationStats* stats = nullptr);
  // Classification logits [segments, num_labels]: the mean of each
  // segment's final hidden states through `score`.
  torch::Tensor classify(const TransformerSpec& spec, const BatchTensors& batch, ForwardRecord* record = nullptr);
  torch::Tensor classify_hidden(const TransformerSpec& spec, const torch::Tensor& final_hidden,
                                const torch::Tensor& cu_seqlens);
  torch::Tensor output_weight(const TransformerSpec& spec) const;

  // The dense model `spec` describes, as named tensors under that model's
  // own names (layers renumbered), weights sliced and LoRA merged.
  NamedTensors sliced_state(const TransformerSpec& spec);
  // Parameters of that dense model; parameters that train when `spec` runs
  // (requires_grad, sliced: the shared adapter's share, or all weights); and
  // forward FLOPs of one sequence of `seq_len` tokens.
  int64_t parameter_count(const TransformerSpec& spec);
  int64_t trainable_count(const TransformerSpec& spec);
  double flops(const TransformerSpec& spec, int64_t seq_len) const;
  // The shared LoRA adapter's A of layer `layer`'s q_proj [r, hidden]: the
  // low-dimensional projection hidden-state distillation goes through;
  // undefined without an adapter.
  torch::Tensor lora_projection(int64_t layer);

  LlamaDecoderLayerImpl& layer(int64_t i);
  torch::nn::Embedding& embed_tokens() { return embed_tokens_; }
  RMSNorm& final_norm() { return norm_; }
  torch::nn::Linear lm_head{nullptr};  // untied decoders
  torch::nn::Linear score{nullptr};    // num_labels > 0

 private:
  ElasticTransformerConfig cfg_;
  TransformerShape shape_;
  TransformerSpec active_;
  RotaryEmbedding rope_;
  std::shared_ptr<torch::nn::Module> body_;  // "model": embed_tokens, layers, norm
  torch::nn::Embedding embed_tokens_{nullptr};
  torch::nn::ModuleList layers_{nullptr};
  RMSNorm norm_{nullptr};
};
TORCH_MODULE(ElasticTransformer);

// The elastic transformer behind `model`, or an error naming `origin`.
std::shared_ptr<ElasticTransformerImpl> as_elastic_transformer(const CausalLM& model, const std::string& origin);

// An elastic maxnet with the weights of a dense Llama (same names and shapes).
ElasticTransformer elastic_from_llama(LlamaForCausalLMImpl& llama);

// Adds loom_encoder and loom_elastic_llama to the model registry (once).
void register_supernet_model_families();

}  // namespace loom
