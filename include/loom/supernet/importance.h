// Importance reordering before supernet training (NVIDIA Minitron): rank
// attention heads (by key/value group), FFN channels and hidden channels by
// the activation magnitude they produce on a calibration sample, then permute
// the weights so that first-k slicing keeps the most important ones. The
// permuted model computes the same function (up to float summation order):
// heads and FFN channels are independent paths, and RMSNorm is invariant to
// a permutation of its channels.
//
//   loom::reorder_by_importance(*model, calibration_batches);
#pragma once
#include <cstdint>
#include <vector>

#include "loom/supernet/elastic_transformer.h"

namespace loom {

// Activation statistics of the full model over the batches (no gradients).
ActivationStats collect_activation_stats(ElasticTransformerImpl& model, const std::vector<BatchTensors>& calibration);

// New position -> old index, most important first.
struct ImportanceOrder {
  std::vector<int64_t> hidden;                  // [hidden]
  std::vector<std::vector<int64_t>> kv_groups;  // per layer [kv heads]: whole groups move together
  std::vector<std::vector<int64_t>> ffn;        // per layer [ffn]
};
ImportanceOrder importance_order(const ActivationStats& stats, const TransformerShape& shape);

// Permutes the weights in place. Refuses a model whose linear layers carry
// an extension (reorder before attaching LoRA).
void permute_transformer(ElasticTransformerImpl& model, const ImportanceOrder& order);

// collect_activation_stats + importance_order + permute_transformer.
ImportanceOrder reorder_by_importance(ElasticTransformerImpl& model, const std::vector<BatchTensors>& calibration);

}  // namespace loom
