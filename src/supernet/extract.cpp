#include "loom/supernet/extract.h"

#include <algorithm>

#include "loom/models/model_dir.h"

namespace loom {

CausalLM extract_transformer(ElasticTransformerImpl& model, const TransformerSpec& spec) {
  check_transformer_spec(spec, model.shape(), "subnet spec");
  const TransformerShape& shape = model.shape();
  const ElasticTransformerConfig& max = model.config();
  LlamaConfig llama = max.llama;
  llama.hidden_size = spec.hidden_size;
  llama.head_dim = shape.head_dim;  // explicit: the sliced hidden size no longer implies it
  llama.num_hidden_layers = static_cast<int64_t>(spec.layers.size());
  llama.num_attention_heads = *std::max_element(spec.heads.begin(), spec.heads.end());
  llama.num_key_value_heads = llama.num_attention_heads / shape.kv_group;
  llama.intermediate_size = *std::max_element(spec.ffn.begin(), spec.ffn.end());
  CausalLM dense;
  if (!max.encoder && max.num_labels == 0 && spec.uniform()) {
    dense = LlamaForCausalLM(llama).ptr();
  } else {
    ElasticTransformerConfig cfg = max;
    cfg.llama = llama;
    cfg.layer_heads.clear();
    cfg.layer_intermediate_sizes.clear();
    if (!spec.uniform()) {
      cfg.layer_heads = spec.heads;
      cfg.layer_intermediate_sizes = spec.ffn;
    }
    dense = ElasticTransformer(cfg).ptr();
  }
  std::map<std::string, torch::Tensor> state;
  for (auto& [name, t] : model.sliced_state(spec)) state[name] = t;
  load_model_state(*dense, state, "subnet " + spec.to_json().dump());
  return dense;
}

}  // namespace loom
