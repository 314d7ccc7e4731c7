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
// Collators live in a registry (collators()); a new one is a function plus
// one line in register_all_collators() (src/core/collate.cpp).
//
//   auto batch = loom::collate(group, loom::Packing::PaddingFree, pad_id);
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "loom/core/dataset.h"
#include "loom/core/registry.h"

namespace loom {

// A collator, by its registered name. The built-ins have constants.
struct Packing {
  std::string name;
  static const Packing None, Naive, PaddingFree, Bin;
  bool operator==(const Packing& other) const { return name == other.name; }
  bool operator!=(const Packing& other) const { return name != other.name; }
};
// Unknown names are an error listing the registered ones.
Packing packing_from_name(const std::string& name);
const char* packing_name(const Packing& packing);

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

struct Collator {
  std::string help;
  // One micro-batch from its examples (checked non-empty and well-formed).
  std::function<PackedBatch(const std::vector<const Example*>& examples, int32_t pad_id)> collate;
  // true: micro-batches are bins planned offline to a token budget;
  // false: consecutive groups of micro_batch_size examples.
  bool plans_bins = false;
};
Registry<Collator>& collators();

PackedBatch collate(const std::vector<const Example*>& examples, const Packing& packing, int32_t pad_id);

// Groups example indices into micro-batches: consecutive groups of
// `batch_size` (none/naive/padding_free), or best-fit-decreasing bins of at
// most `token_budget` tokens (bin). `order` is the epoch's shuffled order.
std::vector<std::vector<size_t>> plan_micro_batches(const std::vector<Example>& examples,
                                                    const std::vector<size_t>& order, const Packing& packing,
                                                    int64_t batch_size, int64_t token_budget);

// Best-fit decreasing: each item goes to the fullest bin it still fits in.
// Items larger than the budget are an error.
std::vector<std::vector<size_t>> best_fit_decreasing(const std::vector<int64_t>& lengths, int64_t budget);

}  // namespace loom
