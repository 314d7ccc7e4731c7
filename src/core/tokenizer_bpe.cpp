#include "tokenizer_bpe.h"

#include <algorithm>
#include <cstring>

#include "tokenizer_unicode.h"

namespace loom::tokenizer_detail {

// ---------- hash maps ----------

namespace {
uint64_t hash_bytes(std::string_view s) {
  // 64-bit FNV-1a over 8-byte words, then a final mix: fast for short keys.
  uint64_t h = 0xcbf29ce484222325ULL ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  for (; i < s.size(); ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}
}  // namespace

void StringIdMap::reserve(size_t n) {
  size_t want = 16;
  while (want < n * 2) want <<= 1;
  if (want <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(want, Slot{});
  for (const Slot& s : old)
    if (s.used) slots_[slot_for(std::string_view(keys_).substr(s.offset, s.length), s.hash)] = s;
}

void StringIdMap::grow() { reserve(std::max<size_t>(16, slots_.size())); }

size_t StringIdMap::slot_for(std::string_view key, uint64_t hash) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.used) return i;
    if (s.hash == hash && s.length == key.size() && std::memcmp(keys_.data() + s.offset, key.data(), key.size()) == 0)
      return i;
  }
}

bool StringIdMap::insert(std::string_view key, int32_t value) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  uint64_t h = hash_bytes(key);
  Slot& s = slots_[slot_for(key, h)];
  if (s.used) return false;
  s = {h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(key.size()), value, true};
  keys_.append(key);
  ++size_;
  return true;
}

void StringIdMap::set(std::string_view key, int32_t value) {
  if (!insert(key, value)) slots_[slot_for(key, hash_bytes(key))].value = value;
}

const int32_t* StringIdMap::find(std::string_view key) const {
  if (slots_.empty()) return nullptr;
  const Slot& s = slots_[slot_for(key, hash_bytes(key))];
  return s.used ? &s.value : nullptr;
}

void StringIdMap::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  keys_.clear();
  size_ = 0;
}

void MergeMap::reserve(size_t n) {
  size_t want = 16;
  while (want < n * 2) want <<= 1;
  if (want <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(want, Slot{});
  size_t mask = want - 1;
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    size_t i = mix(s.key) & mask;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void MergeMap::grow() { reserve(std::max<size_t>(16, slots_.size())); }

void MergeMap::set(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  uint64_t key = pack(left, right);
  size_t mask = slots_.size() - 1;
  size_t i = mix(key) & mask;
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask;
  if (slots_[i].key == kEmpty) ++size_;
  slots_[i] = {key, rank, merged};
}

// ---------- the model ----------

BpeModel::BpeModel(std::vector<std::string> tokens, const std::vector<std::pair<int32_t, int32_t>>& merges,
                   BpeOptions options, const std::string& path)
    : tokens_(std::move(tokens)), merges_(merges), options_(std::move(options)) {
  auto non_empty = [](const std::optional<std::string>& s) { return s && !s->empty(); };
  plain_ = !non_empty(options_.continuing_subword_prefix) && !non_empty(options_.end_of_word_suffix);
  ids_.reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (!tokens_[id].empty()) ids_.insert(tokens_[id], static_cast<int32_t>(id));
  for (int b = 0; b < 256; ++b) {
    const int32_t* c = ids_.find(byte_to_char(static_cast<unsigned char>(b)));
    byte_char_ids_[b] = c ? *c : -1;
    char code[8];
    std::snprintf(code, sizeof code, "<0x%02X>", b);
    const int32_t* t = ids_.find(code);
    byte_token_ids_[b] = t ? *t : -1;
  }
  size_t prefix_len = non_empty(options_.continuing_subword_prefix) ? options_.continuing_subword_prefix->size() : 0;
  merge_map_.reserve(merges_.size());
  std::string merged;
  for (size_t rank = 0; rank < merges_.size(); ++rank) {
    auto [l, r] = merges_[rank];
    const std::string& right = tokens_[r];
    merged = tokens_[l];
    merged.append(right, std::min(prefix_len, right.size()), std::string::npos);
    const int32_t* id = ids_.find(merged);
    if (!id)
      fail(path + ".merges[" + std::to_string(rank) + "]",
           "'" + tokens_[l] + "' + '" + right + "' makes '" + merged + "', which is not in the vocabulary");
    merge_map_.set(l, r, static_cast<int32_t>(rank), *id);
  }
  if (options_.ignore_merges) {
    // Raw bytes of every token written in GPT-2's byte alphabet, so that a
    // byte-level word can be looked up without mapping it first.
    std::string raw;
    for (size_t id = 0; id < tokens_.size(); ++id) {
      const std::string& t = tokens_[id];
      if (t.empty()) continue;
      raw.clear();
      bool ok = valid_utf8_prefix(t, 0) == t.size();
      size_t i = 0;
      while (ok && i < t.size()) {
        int b = byte_of_char(next_code_point(t, &i));
        if (b < 0) ok = false;
        raw.push_back(static_cast<char>(b));
      }
      if (ok) raw_word_ids_.insert(raw, static_cast<int32_t>(id));
    }
  }
}

int32_t BpeModel::unk_id() const {
  const int32_t* id = ids_.find(*options_.unk_token);
  if (!id) throw Error("model.unk_token '" + *options_.unk_token + "' is not in the vocabulary");
  return *id;
}

// HF's merge_word for a character missing from the vocabulary: its bytes as
// <0xXX> tokens (byte_fallback), else the unknown token (fused with a
// preceding one under fuse_unk), else nothing. A pending unknown token is
// emitted when the next known character arrives, after any byte tokens, as
// HF orders them.
void BpeModel::add_unknown_char(std::string_view ch, std::vector<int32_t>* symbols, int32_t* pending_unk) const {
  if (options_.byte_fallback) {
    bool all = true;
    for (unsigned char b : ch) all &= byte_token_ids_[b] >= 0;
    if (all) {
      for (unsigned char b : ch) symbols->push_back(byte_token_ids_[b]);
      return;
    }
  }
  if (!options_.unk_token) return;
  if (*pending_unk >= 0 && options_.fuse_unk) return;
  if (*pending_unk >= 0) symbols->push_back(*pending_unk);
  *pending_unk = unk_id();
}

namespace {

struct WordCache {
  uint64_t owner = 0;
  StringIdMap index;                                   // word -> entry
  std::vector<std::pair<uint32_t, uint32_t>> entries;  // (offset, length) into ids
  std::vector<int32_t> ids;
  std::string key;
};
constexpr size_t kCacheCapacity = 10000;  // words, as HF's BPE cache
constexpr size_t kCacheMaxWord = 256;     // bytes

}  // namespace

void BpeModel::tokenize(std::string_view word, bool byte_level, uint64_t cache_owner, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const int32_t* id = byte_level ? raw_word_ids_.find(word) : ids_.find(word);
    if (id) return out->push_back(*id);
  }
  thread_local WordCache cache;
  bool cacheable = cache_owner != 0 && word.size() < kCacheMaxWord;
  if (cacheable) {
    if (cache.owner != cache_owner) {
      cache.index.clear();
      cache.entries.clear();
      cache.ids.clear();
      cache.owner = cache_owner;
    }
    cache.key.assign(1, byte_level ? '\1' : '\0');
    cache.key.append(word);
    if (const int32_t* e = cache.index.find(cache.key)) {
      auto [offset, length] = cache.entries[*e];
      out->insert(out->end(), cache.ids.begin() + offset, cache.ids.begin() + offset + length);
      return;
    }
  }

  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  bool fast = byte_level && plain_;
  if (fast) {
    for (unsigned char b : word) {
      if (byte_char_ids_[b] < 0) {
        fast = false;
        break;
      }
      symbols.push_back(byte_char_ids_[b]);
    }
  }
  if (!fast) {
    symbols.clear();
    thread_local std::string mapped, piece;
    std::string_view text = word;
    if (byte_level) {
      mapped.clear();
      append_byte_level(word, &mapped);
      text = mapped;
    }
    int32_t pending_unk = -1;
    size_t i = 0;
    while (i < text.size()) {
      size_t start = i;
      next_code_point(text, &i);
      std::string_view ch = text.substr(start, i - start);
      const int32_t* id;
      if (plain_) {
        id = ids_.find(ch);
      } else {
        piece.clear();
        if (start > 0 && options_.continuing_subword_prefix) piece += *options_.continuing_subword_prefix;
        piece += ch;
        if (i == text.size() && options_.end_of_word_suffix) piece += *options_.end_of_word_suffix;
        id = ids_.find(piece);
        ch = piece;
      }
      if (id) {
        if (pending_unk >= 0) symbols.push_back(pending_unk);
        pending_unk = -1;
        symbols.push_back(*id);
      } else {
        add_unknown_char(ch, &symbols, &pending_unk);
      }
    }
    if (pending_unk >= 0) symbols.push_back(pending_unk);
  }
  merge_word(&symbols);
  out->insert(out->end(), symbols.begin(), symbols.end());
  if (cacheable && cache.entries.size() < kCacheCapacity) {
    cache.index.insert(cache.key, static_cast<int32_t>(cache.entries.size()));
    cache.entries.emplace_back(static_cast<uint32_t>(cache.ids.size()), static_cast<uint32_t>(symbols.size()));
    cache.ids.insert(cache.ids.end(), symbols.begin(), symbols.end());
  }
}

void BpeModel::tokenize_raw_byte(unsigned char byte, bool byte_level, std::vector<int32_t>* out) const {
  if (byte_level && byte_char_ids_[byte] >= 0) return out->push_back(byte_char_ids_[byte]);
  if (options_.byte_fallback && byte_token_ids_[byte] >= 0) return out->push_back(byte_token_ids_[byte]);
  if (options_.unk_token) out->push_back(unk_id());
}

// HF's Word::merge_all without dropout: a min-heap of (rank, position); an
// entry whose pair has changed since it was pushed is skipped.
void BpeModel::merge_word(std::vector<int32_t>* ids) const {
  size_t n = ids->size();
  if (n < 2) return;
  struct Symbol {
    int32_t id, prev, next;
    bool alive;
  };
  struct Merge {
    int32_t rank, pos, merged;
    bool operator>(const Merge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Merge> heap;
  sym.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i)
    sym[i] = {(*ids)[i], static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1, true};
  int32_t rank, merged;
  for (size_t i = 0; i + 1 < n; ++i)
    if (merge_map_.find(sym[i].id, sym[i + 1].id, &rank, &merged))
      heap.push_back({rank, static_cast<int32_t>(i), merged});
  if (heap.empty()) return;
  auto greater = [](const Merge& a, const Merge& b) { return a > b; };
  std::make_heap(heap.begin(), heap.end(), greater);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), greater);
    Merge top = heap.back();
    heap.pop_back();
    Symbol& cur = sym[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    int32_t next_pos = cur.next;
    if (!merge_map_.find(cur.id, sym[next_pos].id, &rank, &merged) || merged != top.merged) continue;
    cur.id = top.merged;
    cur.next = sym[next_pos].next;
    sym[next_pos].alive = false;
    if (cur.next >= 0) sym[cur.next].prev = top.pos;
    if (cur.prev >= 0 && merge_map_.find(sym[cur.prev].id, cur.id, &rank, &merged)) {
      heap.push_back({rank, cur.prev, merged});
      std::push_heap(heap.begin(), heap.end(), greater);
    }
    if (cur.next >= 0 && merge_map_.find(cur.id, sym[cur.next].id, &rank, &merged)) {
      heap.push_back({rank, top.pos, merged});
      std::push_heap(heap.begin(), heap.end(), greater);
    }
  }
  size_t k = 0;
  for (size_t i = 0; i < n; ++i)
    if (sym[i].alive) (*ids)[k++] = sym[i].id;
  ids->resize(k);
}

// ---------- tokenizer.json ----------

BpeModel parse_bpe_model(const json& model, const std::string& path) {
  if (!model.is_object()) fail(path, "expected an object");
  std::string type = string_field(model, "type", path, std::string("BPE"));
  if (type != "BPE")
    fail(path + ".type",
         "'" + type + "' is not supported: loom reads BPE models only (not WordPiece, Unigram or WordLevel)");
  if (model.contains("dropout") && !model["dropout"].is_null()) {
    if (!model["dropout"].is_number()) fail(path + ".dropout", "expected a number or null");
    double p = model["dropout"].get<double>();
    if (p < 0 || p > 1) fail(path + ".dropout", "must be in [0, 1]");
    if (p > 0)
      fail(path + ".dropout", "BPE dropout is not supported (loom's encodings are deterministic); set it to null");
  }
  BpeOptions opt;
  auto optional_string = [&](const char* key) -> std::optional<std::string> {
    if (!model.contains(key) || model[key].is_null()) return std::nullopt;
    return string_field(model, key, path);
  };
  opt.unk_token = optional_string("unk_token");
  opt.continuing_subword_prefix = optional_string("continuing_subword_prefix");
  opt.end_of_word_suffix = optional_string("end_of_word_suffix");
  opt.fuse_unk = bool_field(model, "fuse_unk", path, false);
  opt.byte_fallback = bool_field(model, "byte_fallback", path, false);
  opt.ignore_merges = bool_field(model, "ignore_merges", path, false);

  const json& vocab = field(model, "vocab", path);
  if (!vocab.is_object()) fail(path + ".vocab", "expected an object of token -> id");
  constexpr int64_t kMaxId = 10'000'000;
  int64_t size = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= kMaxId)
      fail(path + ".vocab['" + it.key() + "']", "expected an id in [0, " + std::to_string(kMaxId) + ")");
    size = std::max(size, it.value().get<int64_t>() + 1);
  }
  std::vector<std::string> tokens(static_cast<size_t>(size));
  StringIdMap ids;
  ids.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (it.key().empty()) fail(path + ".vocab", "has an empty token");
    tokens[it.value().get<size_t>()] = it.key();
    ids.set(it.key(), it.value().get<int32_t>());
  }
  const json& merges = array_field(model, "merges", path);
  std::vector<std::pair<int32_t, int32_t>> pairs;
  pairs.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const json& m = merges[rank];
    std::string where = path + ".merges[" + std::to_string(rank) + "]";
    std::string_view left, right;
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail(where, "expected \"left right\" (two tokens and one space)");
      left = std::string_view(s).substr(0, space);
      right = std::string_view(s).substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get_ref<const std::string&>();
      right = m[1].get_ref<const std::string&>();
    } else {
      fail(where, "expected a string \"left right\" or a pair [\"left\", \"right\"]");
    }
    const int32_t* l = ids.find(left);
    const int32_t* r = ids.find(right);
    if (!l || !r) fail(where, "'" + std::string(!l ? left : right) + "' is not in the vocabulary");
    pairs.emplace_back(*l, *r);
  }
  return BpeModel(std::move(tokens), pairs, std::move(opt), path);
}

}  // namespace loom::tokenizer_detail
