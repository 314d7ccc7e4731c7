// A packed batch (core/collate.h) as tensors: what every model's forward pass
// takes. The flat token stream travels with its segment boundaries.
//
//   loom::BatchTensors t = loom::to_tensors(loom::collate(group, loom::Packing::PaddingFree, pad_id));
#pragma once
#include <torch/types.h>

#include "loom/core/collate.h"

namespace loom {

// int64 ids/positions/labels, int32 cu_seqlens.
struct BatchTensors {
  torch::Tensor input_ids, position_ids, labels, cu_seqlens;
  int64_t max_seqlen = 0;
  int64_t num_label_tokens = 0;
};
BatchTensors to_tensors(const PackedBatch& batch);

}  // namespace loom
