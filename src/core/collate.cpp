#include "loom/core/collate.h"

#include <algorithm>
#include <map>

#include "loom/core/error.h"

namespace loom {

const Packing Packing::None{"none"};
const Packing Packing::Naive{"naive"};
const Packing Packing::PaddingFree{"padding_free"};
const Packing Packing::Bin{"bin"};

Packing packing_from_name(const std::string& name) {
  collators().get(name, "packing");
  return Packing{name};
}

const char* packing_name(const Packing& packing) { return packing.name.c_str(); }

namespace {

void append_segment(PackedBatch* b, const Example& ex, int32_t padded_len, int32_t pad_id) {
  const int32_t len = static_cast<int32_t>(ex.size());
  for (int32_t t = 0; t < padded_len; ++t) {
    bool real = t < len;
    b->input_ids.push_back(real ? ex.tokens[t] : pad_id);
    b->position_ids.push_back(t);
    // The label at t is token t+1 when it is a target; the last token of the
    // example predicts nothing, so no example learns its neighbour's start.
    bool trained = t + 1 < len && ex.target[t + 1];
    b->labels.push_back(trained ? ex.tokens[t + 1] : kIgnoreLabel);
    b->num_label_tokens += trained;
  }
  b->num_real_tokens += len;
  b->cu_seqlens.push_back(b->cu_seqlens.back() + padded_len);
  b->max_seqlen = std::max(b->max_seqlen, padded_len);
}

}  // namespace

namespace {

PackedBatch collate_padded(const std::vector<const Example*>& examples, int32_t pad_id) {
  if (pad_id < 0) throw Error("packing 'none' pads, but the tokenizer has no PAD token");
  PackedBatch b;
  b.cu_seqlens.push_back(0);
  int32_t longest = 0;
  for (const Example* ex : examples) longest = std::max(longest, static_cast<int32_t>(ex->size()));
  for (const Example* ex : examples) append_segment(&b, *ex, longest, pad_id);
  return b;
}

PackedBatch collate_padding_free(const std::vector<const Example*>& examples, int32_t pad_id) {
  PackedBatch b;
  b.cu_seqlens.push_back(0);
  for (const Example* ex : examples) append_segment(&b, *ex, static_cast<int32_t>(ex->size()), pad_id);
  return b;
}

// One causal segment over the concatenation, positions running on, and
// each example's last token trained to predict the next example's first:
// what EOS-only packing (TRL ConstantLengthDataset) does.
PackedBatch collate_naive(const std::vector<const Example*>& examples, int32_t pad_id) {
  PackedBatch b;
  b.cu_seqlens.push_back(0);
  Example joined;
  for (const Example* ex : examples) {
    joined.tokens.insert(joined.tokens.end(), ex->tokens.begin(), ex->tokens.end());
    joined.target.insert(joined.target.end(), ex->target.begin(), ex->target.end());
    if (joined.target.size() > ex->size()) joined.target[joined.target.size() - ex->size()] = 1;
  }
  append_segment(&b, joined, static_cast<int32_t>(joined.size()), pad_id);
  return b;
}

// The one place collators are listed.
void register_all_collators(Registry<Collator>& r) {
  r.add("none", {"pad every example to the longest in the micro-batch (baseline)", collate_padded, false});
  r.add("naive", {"concatenate under one causal mask: examples attend to each other (contaminates; comparison only)",
                  collate_naive, false});
  r.add("padding_free",
        {"concatenate with per-example attention, positions restarting at 0", collate_padding_free, false});
  r.add("bin",
        {"padding_free rows planned offline by best-fit decreasing to a token budget", collate_padding_free, true});
}

}  // namespace

Registry<Collator>& collators() {
  static Registry<Collator> registry("packing", register_all_collators);
  return registry;
}

PackedBatch collate(const std::vector<const Example*>& examples, const Packing& packing, int32_t pad_id) {
  if (examples.empty()) throw Error("collate: empty micro-batch");
  for (const Example* ex : examples)
    if (ex->size() == 0 || ex->size() != ex->target.size()) throw Error("collate: empty or malformed example");
  PackedBatch b = collators().get(packing.name, "packing").collate(examples, pad_id);
  b.num_examples = static_cast<int64_t>(examples.size());
  return b;
}

std::vector<std::vector<size_t>> best_fit_decreasing(const std::vector<int64_t>& lengths, int64_t budget) {
  std::vector<size_t> order(lengths.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<size_t>> bins;
  std::multimap<int64_t, size_t> by_free;  // free space -> bin
  for (size_t i : order) {
    if (lengths[i] > budget)
      throw Error("bin packing: an example of " + std::to_string(lengths[i]) + " tokens exceeds the budget of " +
                  std::to_string(budget));
    auto it = by_free.lower_bound(lengths[i]);  // the tightest bin that fits
    size_t bin;
    int64_t free;
    if (it == by_free.end()) {
      bin = bins.size();
      bins.emplace_back();
      free = budget;
    } else {
      bin = it->second;
      free = it->first;
      by_free.erase(it);
    }
    bins[bin].push_back(i);
    by_free.emplace(free - lengths[i], bin);
  }
  return bins;
}

std::vector<std::vector<size_t>> plan_micro_batches(const std::vector<Example>& examples,
                                                    const std::vector<size_t>& order, const Packing& packing,
                                                    int64_t batch_size, int64_t token_budget) {
  std::vector<std::vector<size_t>> groups;
  if (collators().get(packing.name, "packing").plans_bins) {
    std::vector<int64_t> lengths;
    for (size_t i : order) lengths.push_back(static_cast<int64_t>(examples[i].size()));
    for (auto& bin : best_fit_decreasing(lengths, token_budget)) {
      std::vector<size_t> group;
      for (size_t k : bin) group.push_back(order[k]);
      groups.push_back(std::move(group));
    }
    // Bins come out longest-first; interleave them by the epoch's order so the
    // step sequence is not sorted by length.
    std::vector<size_t> rank(examples.size());
    for (size_t k = 0; k < order.size(); ++k) rank[order[k]] = k;
    std::sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) { return rank[a[0]] < rank[b[0]]; });
    return groups;
  }
  if (batch_size < 1) throw Error("micro_batch_size must be at least 1");
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
    size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
    groups.emplace_back(order.begin() + static_cast<long>(start), order.begin() + static_cast<long>(end));
  }
  return groups;
}

}  // namespace loom
