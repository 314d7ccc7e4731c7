// Collators turn a group of examples into one flat token stream plus the
// attention boundaries that travel with it (position ids + cu_seqlens). The
// model never infers boundaries from a mask, so the Hugging Face #46634 class
// of bug (a mask silently disabling per-example attention) cannot happen.
//
//   none          pad every example to the longest in the micro-batch (baseline)
//   naive         concatenate under one causal segment: examples attend to each
//                 other -- the contaminating baseline, for comparison only
//   padding_free  concatenate with per-example segments, positions restarting at 0
//   bin           padding_free rows planned offline by best-fit decreasing
//
//   auto batch = loom::collate(group, loom::Packing::PaddingFree, pad_id);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loom/core/dataset.h"

namespace loom {

enum class Packing { None, Naive, PaddingFree, Bin };
Packing packing_from_name(const std::string& name);  // none | naive | padding_free | bin
const char* packing_name(Packing packing);

constexpr int32_t kIgnoreLabel = -100;

struct PackedBatch {
  std::vector<int32_t> input_ids;     // [T]
  std::vector<int32_t> position_ids;  // [T], restart at 0 in each segment
  std::vector<int32_t> labels;        // [T], next-token targets, kIgnoreLabel where not trained
  std::vector<int32_t> cu_seqlens;    // [segments + 1], attention segment boundaries
  int32_t max_seqlen = 0;
  int64_t num_label_tokens = 0;
  int64_t num_real_tokens = 0;  // tokens that are not padding
  int64_t num_examples = 0;
  int64_t num_tokens() const { return static_cast<int64_t>(input_ids.size()); }
};

PackedBatch collate(const std::vector<const Example*>& examples, Packing packing, int32_t pad_id);

// Groups example indices into micro-batches: consecutive groups of
// `batch_size` (none/naive/padding_free), or best-fit-decreasing bins of at
// most `token_budget` tokens (bin). `order` is the epoch's shuffled order.
std::vector<std::vector<size_t>> plan_micro_batches(const std::vector<Example>& examples,
                                                    const std::vector<size_t>& order, Packing packing,
                                                    int64_t batch_size, int64_t token_budget);

// Best-fit decreasing: each item goes to the fullest bin it still fits in.
// Items larger than the budget are an error.
std::vector<std::vector<size_t>> best_fit_decreasing(const std::vector<int64_t>& lengths, int64_t budget);

}  // namespace loom
