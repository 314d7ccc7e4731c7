// Byte-level BPE training: the classic greedy loop (most frequent adjacent
// pair, ties to the smaller pair of ids), with a lazily invalidated max-heap
// and an index from pairs to the words that contain them.
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "tokenizer_pipeline.h"
#include "tokenizer_unicode.h"

namespace loom::tokenizer_detail {

namespace {
uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
}  // namespace

TrainedBpe train_bpe(const std::vector<std::pair<std::string, int64_t>>& sorted_words, int target_merges,
                     int64_t min_frequency) {
  TrainedBpe out;
  for (int b = 0; b < 256; ++b) out.tokens.push_back(byte_to_char(static_cast<unsigned char>(b)));

  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> counts;
  for (auto& [w, count] : sorted_words) {
    std::vector<int32_t> symbols;
    for (unsigned char ch : w) symbols.push_back(ch);
    words.push_back(std::move(symbols));
    counts.push_back(count);
  }

  std::unordered_map<uint64_t, int64_t> pair_counts;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words;
  auto add_pairs = [&](size_t w, int64_t sign) {
    const auto& s = words[w];
    for (size_t k = 0; k + 1 < s.size(); ++k) {
      uint64_t key = pair_key(s[k], s[k + 1]);
      pair_counts[key] += sign * counts[w];
      if (sign > 0) pair_words[key].push_back(static_cast<int32_t>(w));
    }
  };
  for (size_t w = 0; w < words.size(); ++w) add_pairs(w, +1);

  // Max-heap on (count, then the smaller pair key), with lazy invalidation.
  using Entry = std::pair<int64_t, uint64_t>;
  auto cmp = [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(cmp)> heap(cmp);
  for (auto& [key, count] : pair_counts) heap.push({count, key});

  std::vector<uint32_t> visited(words.size(), 0);
  uint32_t stamp = 0;
  while (static_cast<int>(out.merges.size()) < target_merges && !heap.empty()) {
    auto [count, key] = heap.top();
    heap.pop();
    auto it = pair_counts.find(key);
    if (it == pair_counts.end() || it->second != count) {
      if (it != pair_counts.end() && it->second > 0) heap.push({it->second, key});
      continue;
    }
    if (count < min_frequency) break;
    int32_t left = static_cast<int32_t>(key >> 32), right = static_cast<int32_t>(key & 0xFFFFFFFF);
    int32_t merged = static_cast<int32_t>(out.tokens.size());
    out.tokens.push_back(out.tokens[left] + out.tokens[right]);
    out.merges.push_back({left, right});

    ++stamp;
    std::vector<int32_t> affected = std::move(pair_words[key]);
    pair_words.erase(key);
    std::unordered_set<uint64_t> touched;
    for (int32_t w : affected) {
      if (visited[w] == stamp) continue;
      visited[w] = stamp;
      auto& s = words[w];
      bool present = false;
      for (size_t k = 0; k + 1 < s.size(); ++k) present |= (s[k] == left && s[k + 1] == right);
      if (!present) continue;
      add_pairs(w, -1);
      std::vector<int32_t> next;
      for (size_t k = 0; k < s.size(); ++k) {
        if (k + 1 < s.size() && s[k] == left && s[k + 1] == right) {
          next.push_back(merged);
          ++k;
        } else {
          next.push_back(s[k]);
        }
      }
      s = std::move(next);
      add_pairs(w, +1);
      for (size_t k = 0; k + 1 < s.size(); ++k) touched.insert(pair_key(s[k], s[k + 1]));
    }
    pair_counts.erase(key);
    for (uint64_t t : touched) heap.push({pair_counts[t], t});
  }
  return out;
}

}  // namespace loom::tokenizer_detail
