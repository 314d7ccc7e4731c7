// The BPE model of tokenizer.json: vocabulary, ranked merges, and Hugging
// Face's merge order (lowest rank first, leftmost among equal ranks, through
// a heap, so long words cost O(n log n)); byte_fallback, unk_token, fuse_unk,
// continuing_subword_prefix, end_of_word_suffix and ignore_merges. Dropout is
// refused: loom's encodings are deterministic.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer_json.h"

namespace loom::tokenizer_detail {

// Open-addressing hash map from strings to ids; keys live in its own arena.
class StringIdMap {
 public:
  void reserve(size_t n);
  // Inserts or overwrites.
  void set(std::string_view key, int32_t value);
  // Inserts unless present; returns false when the key was already there.
  bool insert(std::string_view key, int32_t value);
  const int32_t* find(std::string_view key) const;
  size_t size() const { return size_; }
  void clear();

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0, length = 0;
    int32_t value = 0;
    bool used = false;
  };
  size_t slot_for(std::string_view key, uint64_t hash) const;
  void grow();
  std::vector<Slot> slots_;
  std::string keys_;
  size_t size_ = 0;
};

// Open-addressing hash map from a pair of ids to (rank, merged id).
class MergeMap {
 public:
  void reserve(size_t n);
  void set(int32_t left, int32_t right, int32_t rank, int32_t merged);
  // Returns false when the pair has no merge.
  bool find(int32_t left, int32_t right, int32_t* rank, int32_t* merged) const {
    if (slots_.empty()) return false;
    uint64_t key = pack(left, right);
    size_t mask = slots_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.key == kEmpty) return false;
      if (s.key == key) return *rank = s.rank, *merged = s.merged, true;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    int32_t rank = 0, merged = 0;
  };
  static uint64_t pack(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
  }
  void grow();
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix;
  std::optional<std::string> end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // `tokens`: id -> token (empty for ids the vocabulary skips); `merges`:
  // (left, right) ids by rank. A pair listed twice keeps its last rank, as HF's
  // map does. Throws loom::Error naming the merge whose result is missing.
  BpeModel(std::vector<std::string> tokens, const std::vector<std::pair<int32_t, int32_t>>& merges, BpeOptions options,
           const std::string& path);

  // Appends the ids of one pre-tokenized word. `byte_level`: the word is raw
  // bytes that stand for GPT-2's byte characters. `cache_owner` identifies
  // the pipeline for the per-thread word cache (0 = no cache).
  void tokenize(std::string_view word, bool byte_level, uint64_t cache_owner, std::vector<int32_t>* out) const;
  // A single byte that is not valid UTF-8 (loom accepts any bytes).
  void tokenize_raw_byte(unsigned char byte, bool byte_level, std::vector<int32_t>* out) const;

  const std::vector<std::string>& tokens() const { return tokens_; }
  const int32_t* find(std::string_view token) const { return ids_.find(token); }
  size_t vocab_entries() const { return ids_.size(); }  // HF's get_vocab_size()
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }
  const BpeOptions& options() const { return options_; }

 private:
  void merge_word(std::vector<int32_t>* symbols) const;
  void add_unknown_char(std::string_view ch, std::vector<int32_t>* symbols, int32_t* pending_unk) const;
  int32_t unk_id() const;

  std::vector<std::string> tokens_;
  StringIdMap ids_;
  std::vector<std::pair<int32_t, int32_t>> merges_;  // by rank, for to_json
  MergeMap merge_map_;
  BpeOptions options_;
  bool plain_ = true;            // no prefix or suffix: characters look themselves up
  int32_t byte_char_ids_[256];   // id of GPT-2's character for each byte, or -1
  int32_t byte_token_ids_[256];  // id of "<0xXX>" for each byte, or -1
  StringIdMap raw_word_ids_;     // ignore_merges on byte-level words: raw bytes -> id
};

// The `model` object of tokenizer.json (type BPE).
BpeModel parse_bpe_model(const json& model, const std::string& path);

}  // namespace loom::tokenizer_detail
