#include "loom/tensor/batch.h"

namespace loom {

BatchTensors to_tensors(const PackedBatch& b) {
  auto as_long = [](const std::vector<int32_t>& v) {
    return torch::from_blob(const_cast<int32_t*>(v.data()), {static_cast<int64_t>(v.size())}, torch::kInt32)
        .to(torch::kLong);
  };
  BatchTensors t;
  t.input_ids = as_long(b.input_ids);
  t.position_ids = as_long(b.position_ids);
  t.labels = as_long(b.labels);
  t.cu_seqlens = torch::from_blob(const_cast<int32_t*>(b.cu_seqlens.data()),
                                  {static_cast<int64_t>(b.cu_seqlens.size())}, torch::kInt32)
                     .clone();
  t.max_seqlen = b.max_seqlen;
  t.num_label_tokens = b.num_label_tokens;
  return t;
}

}  // namespace loom
