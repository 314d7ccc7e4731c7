#include "loom/supernet/importance.h"

#include <torch/torch.h>

#include "loom/core/error.h"
#include "loom/tensor/eval_mode.h"

namespace loom {

ActivationStats collect_activation_stats(ElasticTransformerImpl& model, const std::vector<BatchTensors>& calibration) {
  if (calibration.empty()) throw Error("importance ranking needs at least one calibration batch");
  const TransformerShape& shape = model.shape();
  ActivationStats stats;
  for (int64_t l = 0; l < shape.num_layers(); ++l) {
    stats.head_norm.push_back(torch::zeros({shape.heads[static_cast<size_t>(l)]}, torch::kDouble));
    stats.ffn_abs.push_back(torch::zeros({shape.ffn[static_cast<size_t>(l)]}, torch::kDouble));
  }
  stats.hidden_abs = torch::zeros({shape.hidden_size}, torch::kDouble);
  torch::NoGradGuard no_grad;
  EvalModeScope eval(model);
  const TransformerSpec full = model.full_spec();
  for (const auto& batch : calibration) model.hidden_states(full, batch, nullptr, &stats);
  return stats;
}

namespace {

std::vector<int64_t> descending(const torch::Tensor& scores) {
  auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  return std::vector<int64_t>(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
}

// Rows (dim 0) or columns (dim 1) of `param` reordered: new i <- old index[i].
void permute_dim(torch::Tensor param, int64_t dim, const torch::Tensor& index) {
  param.copy_(param.index_select(dim, index));
}

// Expands an order of blocks of `block` entries into an order of entries.
torch::Tensor block_index(const std::vector<int64_t>& blocks, int64_t block) {
  std::vector<int64_t> out;
  for (int64_t b : blocks)
    for (int64_t j = 0; j < block; ++j) out.push_back(b * block + j);
  return torch::tensor(out, torch::kLong);
}

}  // namespace

ImportanceOrder importance_order(const ActivationStats& stats, const TransformerShape& shape) {
  ImportanceOrder order;
  order.hidden = descending(stats.hidden_abs);
  for (int64_t l = 0; l < shape.num_layers(); ++l) {
    const int64_t heads = shape.heads[static_cast<size_t>(l)], kv = heads / shape.kv_group;
    order.kv_groups.push_back(descending(stats.head_norm[static_cast<size_t>(l)].view({kv, shape.kv_group}).sum(1)));
    order.ffn.push_back(descending(stats.ffn_abs[static_cast<size_t>(l)]));
  }
  return order;
}

void permute_transformer(ElasticTransformerImpl& model, const ImportanceOrder& order) {
  for (auto& p : model.named_modules("", false))
    if (auto* linear = dynamic_cast<LinearImpl*>(p.value().get()); linear && linear->extension())
      throw Error("importance reordering: layer '" + p.key() +
                  "' carries an extension; reorder the weights before attaching adapters");
  const TransformerShape& shape = model.shape();
  const int64_t hd = shape.head_dim, g = shape.kv_group;
  torch::NoGradGuard no_grad;
  const auto hidden = torch::tensor(order.hidden, torch::kLong);
  permute_dim(model.embed_tokens()->weight, 1, hidden);
  permute_dim(model.final_norm()->weight, 0, hidden);
  if (model.lm_head) permute_dim(model.lm_head->weight, 1, hidden);
  if (model.score) permute_dim(model.score->weight, 1, hidden);
  for (int64_t l = 0; l < shape.num_layers(); ++l) {
    auto& lay = model.layer(l);
    auto& attn = *lay.self_attn;
    auto* mlp = dynamic_cast<SwiGluImpl*>(lay.mlp.get());
    for (auto* w : {&attn.q_proj->weight, &attn.k_proj->weight, &attn.v_proj->weight, &mlp->gate_proj->weight,
                    &mlp->up_proj->weight})
      permute_dim(*w, 1, hidden);
    permute_dim(attn.o_proj->weight, 0, hidden);
    permute_dim(mlp->down_proj->weight, 0, hidden);
    permute_dim(lay.input_layernorm->weight, 0, hidden);
    permute_dim(lay.post_attention_layernorm->weight, 0, hidden);
    const auto& groups = order.kv_groups[static_cast<size_t>(l)];
    const auto q_rows = block_index(groups, g * hd), kv_rows = block_index(groups, hd);
    permute_dim(attn.q_proj->weight, 0, q_rows);
    permute_dim(attn.k_proj->weight, 0, kv_rows);
    permute_dim(attn.v_proj->weight, 0, kv_rows);
    permute_dim(attn.o_proj->weight, 1, q_rows);
    const auto ffn = torch::tensor(order.ffn[static_cast<size_t>(l)], torch::kLong);
    permute_dim(mlp->gate_proj->weight, 0, ffn);
    permute_dim(mlp->up_proj->weight, 0, ffn);
    permute_dim(mlp->down_proj->weight, 1, ffn);
  }
}

ImportanceOrder reorder_by_importance(ElasticTransformerImpl& model, const std::vector<BatchTensors>& calibration) {
  ImportanceOrder order = importance_order(collect_activation_stats(model, calibration), model.shape());
  permute_transformer(model, order);
  return order;
}

}  // namespace loom
