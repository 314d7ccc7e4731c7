#include "loom/core/tokenizer.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_set>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/utf8.h"

namespace loom {
namespace {

// ---------- GPT-2's byte <-> printable-unicode mapping ----------

struct ByteMap {
  std::string byte_to_str[256];
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;
  ByteMap() {
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + extra++);
      byte_to_str[b] = utf8_encode(cp);
      cp_to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

std::string to_byte_level(const std::string& raw) {
  std::string out;
  for (unsigned char c : raw) out += byte_map().byte_to_str[c];
  return out;
}

// ---------- Unicode classes for the pre-tokenizer regexes ----------
// Exact for ASCII. Outside ASCII this is a range table, not the full Unicode
// database: common punctuation, symbol, digit and space blocks are classified;
// every other code point counts as a letter. Mark characters (U+0300-036F) are
// "other", as in \p{M}. See docs/core.md.

bool is_space(uint32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_number(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0xBC && cp <= 0xBE) || (cp >= 0x660 && cp <= 0x669) ||
         (cp >= 0x6F0 && cp <= 0x6F9) || (cp >= 0x966 && cp <= 0x96F) || cp == 0x2070 ||
         (cp >= 0x2074 && cp <= 0x2079) || (cp >= 0x2080 && cp <= 0x2089) || (cp >= 0x2150 && cp <= 0x2189) ||
         (cp >= 0x2460 && cp <= 0x249B) || (cp >= 0xFF10 && cp <= 0xFF19);
}

bool is_letter(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (is_space(cp) || is_number(cp)) return false;
  if (cp < 0xC0) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
  if (cp == 0xD7 || cp == 0xF7) return false;
  if (cp >= 0x300 && cp <= 0x36F) return false;
  if (cp >= 0x2000 && cp <= 0x2BFF) return cp == 0x2071 || cp == 0x207F || (cp >= 0x2090 && cp <= 0x209C);
  if (cp >= 0x3000 && cp <= 0x303F) return cp == 0x3005 || cp == 0x3006;
  if ((cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
      (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65))
    return false;
  if (cp >= 0x1F000 && cp <= 0x1FAFF) return false;
  return true;
}

struct CodePoints {
  std::vector<uint32_t> cp;
  std::vector<size_t> offset;  // byte offset of each code point, plus the end
  explicit CodePoints(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
      size_t len = 1;
      offset.push_back(i);
      cp.push_back(utf8_next(s, i, &len));
      i += len;
    }
    offset.push_back(s.size());
  }
};

uint32_t lower_ascii(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Length in code points of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
size_t match_contraction(const std::vector<uint32_t>& c, size_t i, bool case_insensitive) {
  if (c[i] != '\'' || i + 1 >= c.size()) return 0;
  auto at = [&](size_t k) { return case_insensitive ? lower_ascii(c[k]) : c[k]; };
  uint32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < c.size()) {
    uint32_t b = at(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

// Whitespace at i: `\s+(?!\S)|\s+` -- a run followed by text gives up its last
// character, which then leads the next word.
size_t match_whitespace(const std::vector<uint32_t>& c, size_t i) {
  size_t j = i;
  while (j < c.size() && is_space(c[j])) ++j;
  if (j == c.size() || j - i == 1) return j - i;
  return j - i - 1;
}

std::vector<size_t> split_gpt2(const std::vector<uint32_t>& c) {
  std::vector<size_t> ends;
  size_t i = 0, n = c.size();
  auto run = [&](size_t k, bool (*pred)(uint32_t)) {
    while (k < n && pred(c[k])) ++k;
    return k;
  };
  auto is_other = [](uint32_t x) { return !is_space(x) && !is_letter(x) && !is_number(x); };
  while (i < n) {
    size_t j = i;
    size_t s = (c[i] == ' ' && i + 1 < n) ? i + 1 : i;  // the optional leading space
    if (size_t k = match_contraction(c, i, false)) {
      j = i + k;
    } else if (is_letter(c[s])) {
      j = run(s, is_letter);
    } else if (is_number(c[s])) {
      j = run(s, is_number);
    } else if (is_other(c[s])) {
      j = s;
      while (j < n && is_other(c[j])) ++j;
    } else {
      j = i + match_whitespace(c, i);
    }
    ends.push_back(j);
    i = j;
  }
  return ends;
}

std::vector<size_t> split_llama3(const std::vector<uint32_t>& c) {
  std::vector<size_t> ends;
  size_t i = 0, n = c.size();
  auto is_newline = [](uint32_t x) { return x == '\r' || x == '\n'; };
  auto is_other = [](uint32_t x) { return !is_space(x) && !is_letter(x) && !is_number(x); };
  while (i < n) {
    size_t j = i;
    bool prefix_ok = !is_newline(c[i]) && !is_letter(c[i]) && !is_number(c[i]);
    if (size_t k = match_contraction(c, i, true)) {
      j = i + k;
    } else if (is_letter(c[i]) || (prefix_ok && i + 1 < n && is_letter(c[i + 1]))) {
      j = is_letter(c[i]) ? i : i + 1;
      while (j < n && is_letter(c[j])) ++j;
    } else if (is_number(c[i])) {
      while (j < n && j - i < 3 && is_number(c[j])) ++j;
    } else if (is_other(c[i]) || (c[i] == ' ' && i + 1 < n && is_other(c[i + 1]))) {
      j = c[i] == ' ' ? i + 1 : i;
      while (j < n && is_other(c[j])) ++j;
      while (j < n && is_newline(c[j])) ++j;
    } else {
      // \s*[\r\n]+ : the whitespace run up to and including its last newline.
      size_t end = i;
      while (end < n && is_space(c[end])) ++end;
      size_t last_newline = n;
      for (size_t k = i; k < end; ++k)
        if (is_newline(c[k])) last_newline = k;
      j = last_newline != n ? last_newline + 1 : i + match_whitespace(c, i);
    }
    ends.push_back(j);
    i = j;
  }
  return ends;
}

const char* kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char* kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

// ---------- pre-tokenization ----------

std::vector<std::string> Tokenizer::pre_tokenize(const std::string& text) const {
  CodePoints cps(text);
  std::vector<size_t> ends = pre_tokenizer_ == PreTokenizer::Gpt2 ? split_gpt2(cps.cp) : split_llama3(cps.cp);
  std::vector<std::string> words;
  size_t start = 0;
  for (size_t end : ends) {
    words.push_back(text.substr(cps.offset[start], cps.offset[end] - cps.offset[start]));
    start = end;
  }
  return words;
}

// ---------- training ----------

Tokenizer Tokenizer::train(const std::vector<std::string>& texts, const TokenizerTrainOptions& options) {
  int num_special = static_cast<int>(options.special_tokens.size());
  if (options.vocab_size < 256 + num_special)
    throw Error("tokenizer: vocab_size must be at least 256 + the number of special tokens");
  Tokenizer tok;
  tok.pre_tokenizer_ = options.pre_tokenizer;
  for (int b = 0; b < 256; ++b) tok.tokens_.push_back(byte_map().byte_to_str[b]);

  std::unordered_map<std::string, int64_t> word_counts;
  for (const auto& text : texts)
    for (auto& w : tok.pre_tokenize(text)) ++word_counts[w];
  // Sorted so that training is deterministic regardless of hash order.
  std::vector<std::pair<std::string, int64_t>> sorted_words(word_counts.begin(), word_counts.end());
  std::sort(sorted_words.begin(), sorted_words.end());

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
  int target_merges = options.vocab_size - 256 - num_special;
  while (static_cast<int>(tok.merges_.size()) < target_merges && !heap.empty()) {
    auto [count, key] = heap.top();
    heap.pop();
    auto it = pair_counts.find(key);
    if (it == pair_counts.end() || it->second != count) {
      if (it != pair_counts.end() && it->second > 0) heap.push({it->second, key});
      continue;
    }
    if (count < options.min_frequency) break;
    int32_t left = static_cast<int32_t>(key >> 32), right = static_cast<int32_t>(key & 0xFFFFFFFF);
    int32_t merged = static_cast<int32_t>(tok.tokens_.size());
    tok.tokens_.push_back(tok.tokens_[left] + tok.tokens_[right]);
    tok.merges_.push_back({left, right});

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
  for (const auto& special : options.special_tokens) tok.tokens_.push_back(special);
  tok.is_special_.assign(tok.tokens_.size(), false);
  for (int k = 0; k < num_special; ++k) tok.is_special_[tok.tokens_.size() - 1 - k] = true;
  tok.build_indexes();
  tok.guess_special_roles();
  return tok;
}

// ---------- indexes and roles ----------

void Tokenizer::build_indexes() {
  token_ids_.clear();
  merge_rank_.clear();
  special_ids_.clear();
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (tokens_[id].empty()) continue;  // a hole in a foreign vocabulary
    token_ids_.emplace(tokens_[id], static_cast<int32_t>(id));
    if (is_special_[id]) special_ids_.push_back(static_cast<int32_t>(id));
  }
  std::fill(std::begin(special_first_byte_), std::end(special_first_byte_), false);
  for (int32_t id : special_ids_) special_first_byte_[static_cast<unsigned char>(tokens_[id][0])] = true;
  std::sort(special_ids_.begin(), special_ids_.end(),
            [&](int32_t a, int32_t b) { return tokens_[a].size() > tokens_[b].size(); });
  for (int b = 0; b < 256; ++b) {
    auto it = token_ids_.find(byte_map().byte_to_str[b]);
    if (it == token_ids_.end())
      throw Error("tokenizer: vocabulary lacks the byte-level token for byte " + std::to_string(b));
    byte_ids_[b] = it->second;
  }
  for (size_t rank = 0; rank < merges_.size(); ++rank) {
    auto [l, r] = merges_[rank];
    auto it = token_ids_.find(tokens_[l] + tokens_[r]);
    if (it == token_ids_.end())
      throw Error("tokenizer: merge " + std::to_string(rank) + " ('" + tokens_[l] + "' + '" + tokens_[r] +
                  "') produces a token missing from the vocabulary");
    merge_rank_.emplace(pair_key(l, r), std::make_pair(static_cast<int32_t>(rank), it->second));
  }
}

void Tokenizer::guess_special_roles() {
  auto find_any = [&](std::initializer_list<const char*> names) -> int32_t {
    for (const char* n : names) {
      auto it = token_ids_.find(n);
      if (it != token_ids_.end() && is_special_[it->second]) return it->second;
    }
    return -1;
  };
  bos_id_ = find_any({"<|begin_of_text|>", "<s>", "<|im_start|>", "<|endoftext|>"});
  eos_id_ = find_any({"<|end_of_text|>", "</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>"});
  pad_id_ = find_any({"<|pad|>", "<pad>", "<|finetune_right_pad_id|>"});
}

void Tokenizer::set_special_ids(int32_t bos, int32_t eos, int32_t pad) {
  auto check = [&](int32_t id, const char* role) {
    if (id >= vocab_size())
      throw Error(std::string("tokenizer: ") + role + " id " + std::to_string(id) + " is outside the vocabulary of " +
                  std::to_string(vocab_size()));
  };
  check(bos, "bos");
  check(eos, "eos");
  check(pad, "pad");
  bos_id_ = bos;
  eos_id_ = eos;
  pad_id_ = pad;
}

std::optional<int32_t> Tokenizer::token_to_id(const std::string& token) const {
  auto it = token_ids_.find(token);
  if (it == token_ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size()) throw Error("tokenizer: id " + std::to_string(id) + " out of range");
  return tokens_[id];
}

// ---------- encode / decode ----------

void Tokenizer::encode_word(const std::string& word, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    auto it = token_ids_.find(to_byte_level(word));
    if (it != token_ids_.end() && !is_special_[it->second]) return out->push_back(it->second);
  }
  std::vector<int32_t> symbols;
  for (unsigned char ch : word) symbols.push_back(byte_ids_[ch]);
  while (symbols.size() > 1) {
    int32_t best_rank = INT32_MAX, best_id = -1;
    size_t best_pos = 0;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      auto it = merge_rank_.find(pair_key(symbols[k], symbols[k + 1]));
      if (it != merge_rank_.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best_id = it->second.second;
        best_pos = k;
      }
    }
    if (best_id < 0) break;
    int32_t l = symbols[best_pos], r = symbols[best_pos + 1];
    std::vector<int32_t> next;
    next.reserve(symbols.size());
    for (size_t k = 0; k < symbols.size(); ++k) {
      if (k + 1 < symbols.size() && symbols[k] == l && symbols[k + 1] == r) {
        next.push_back(best_id);
        ++k;
      } else {
        next.push_back(symbols[k]);
      }
    }
    symbols.swap(next);
  }
  out->insert(out->end(), symbols.begin(), symbols.end());
}

void Tokenizer::encode_ordinary(const std::string& text, std::vector<int32_t>* out) const {
  for (const auto& word : pre_tokenize(text)) encode_word(word, out);
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_bos, bool add_eos) const {
  std::vector<int32_t> ids;
  if (add_bos) {
    if (bos_id_ < 0) throw Error("tokenizer: add_bos requested but the tokenizer has no BOS token");
    ids.push_back(bos_id_);
  }
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    int32_t matched = -1;
    if (special_first_byte_[static_cast<unsigned char>(text[pos])]) {
      for (int32_t id : special_ids_) {
        const std::string& s = tokens_[id];
        if (text.compare(pos, s.size(), s) == 0) {
          matched = id;
          break;
        }
      }
    }
    if (matched < 0) {
      ++pos;
      continue;
    }
    encode_ordinary(text.substr(start, pos - start), &ids);
    ids.push_back(matched);
    pos += tokens_[matched].size();
    start = pos;
  }
  encode_ordinary(text.substr(start), &ids);
  if (add_eos) {
    if (eos_id_ < 0) throw Error("tokenizer: add_eos requested but the tokenizer has no EOS token");
    ids.push_back(eos_id_);
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) throw Error("tokenizer: cannot decode id " + std::to_string(id));
    if (is_special_[id]) {
      if (!skip_special) out += tokens_[id];
      continue;
    }
    const std::string& s = tokens_[id];
    size_t i = 0;
    while (i < s.size()) {
      size_t len = 1;
      uint32_t cp = utf8_next(s, i, &len);
      auto it = byte_map().cp_to_byte.find(cp);
      if (it != byte_map().cp_to_byte.end())
        out += static_cast<char>(it->second);
      else
        out += s.substr(i, len);  // a non-byte-level added token: emit as written
      i += len;
    }
  }
  return out;
}

// ---------- Hugging Face tokenizer.json ----------

std::string Tokenizer::to_json() const {
  using ojson = nlohmann::ordered_json;
  ojson added = ojson::array();
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (!is_special_[id]) continue;
    added.push_back({{"id", id},
                     {"content", tokens_[id]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  ojson byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  ojson pre = byte_level;
  if (pre_tokenizer_ == PreTokenizer::Llama3) {
    ojson split = {
        {"type", "Split"}, {"pattern", {{"Regex", kLlama3Pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
    ojson bl = byte_level;
    bl["use_regex"] = false;
    pre = {{"type", "Sequence"}, {"pretokenizers", {split, bl}}};
  }
  ojson vocab = ojson::object();
  for (size_t id = 0; id < tokens_.size(); ++id)
    if (!tokens_[id].empty()) vocab[tokens_[id]] = id;
  ojson merges = ojson::array();
  for (auto [l, r] : merges_) merges.push_back(tokens_[l] + " " + tokens_[r]);
  ojson root = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", pre},
      {"post_processor", byte_level},
      {"decoder", byte_level},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", ignore_merges_},
        {"vocab", vocab},
        {"merges", merges}}},
  };
  return root.dump(2);
}

void Tokenizer::save(const std::string& path) const { write_file_atomic(path, to_json()); }

Tokenizer Tokenizer::load(const std::string& path) { return from_json(read_file_text(path), path); }

Tokenizer Tokenizer::from_json(const std::string& json_text, const std::string& origin) {
  auto fail = [&](const std::string& why) { return Error(origin + ": " + why); };
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
    throw fail("missing object field 'model'");
  const auto& model = root["model"];
  if (model.value("type", "") != "BPE")
    throw fail("model.type must be \"BPE\" (loom reads byte-level BPE tokenizers only)");
  if (model.contains("byte_fallback") && model["byte_fallback"].is_boolean() && model["byte_fallback"].get<bool>())
    throw fail("model.byte_fallback=true is a SentencePiece-style BPE, not byte-level; unsupported");

  Tokenizer tok;
  // Pre-tokenizer: ByteLevel with its GPT-2 regex, or Sequence[Split(regex), ByteLevel(use_regex=false)].
  const auto& pre = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : nlohmann::json();
  auto type_of = [](const nlohmann::json& j) { return j.is_object() ? j.value("type", "") : std::string(); };
  if (type_of(pre) == "ByteLevel") {
    if (!pre.value("use_regex", true)) throw fail("pre_tokenizer ByteLevel with use_regex=false alone is unsupported");
    if (pre.value("add_prefix_space", false)) throw fail("pre_tokenizer.add_prefix_space=true is unsupported");
    tok.pre_tokenizer_ = PreTokenizer::Gpt2;
  } else if (type_of(pre) == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
    std::string regex;
    bool has_byte_level = false;
    for (const auto& p : pre["pretokenizers"]) {
      if (type_of(p) == "Split" && p.contains("pattern") && p["pattern"].is_object() &&
          p["pattern"].contains("Regex") && p["pattern"]["Regex"].is_string())
        regex = p["pattern"]["Regex"].get<std::string>();
      else if (type_of(p) == "ByteLevel")
        has_byte_level = true;
      else
        throw fail("pre_tokenizer.pretokenizers: unsupported entry of type '" + type_of(p) + "'");
    }
    if (!has_byte_level) throw fail("pre_tokenizer has no ByteLevel step: not a byte-level BPE");
    if (regex == kLlama3Pattern)
      tok.pre_tokenizer_ = PreTokenizer::Llama3;
    else if (regex == kGpt2Pattern || regex.empty())
      tok.pre_tokenizer_ = PreTokenizer::Gpt2;
    else
      throw fail("pre_tokenizer Split regex is not one loom implements (GPT-2 or Llama 3): " + regex);
  } else {
    throw fail("pre_tokenizer must be ByteLevel or a Sequence with Split + ByteLevel, got '" + type_of(pre) + "'");
  }
  tok.ignore_merges_ =
      model.contains("ignore_merges") && model["ignore_merges"].is_boolean() && model["ignore_merges"].get<bool>();

  if (!model.contains("vocab") || !model["vocab"].is_object()) throw fail("model.vocab must be an object");
  std::map<int64_t, std::string> by_id;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > 10'000'000)
      throw fail("model.vocab['" + it.key() + "'] is not a valid id");
    by_id[it.value().get<int64_t>()] = it.key();
  }
  std::map<int64_t, std::string> specials;
  if (root.contains("added_tokens")) {
    if (!root["added_tokens"].is_array()) throw fail("added_tokens must be an array");
    for (const auto& a : root["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string() || a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() > 10'000'000)
        throw fail("added_tokens: each entry needs an integer 'id' and a string 'content'");
      specials[a["id"].get<int64_t>()] = a["content"].get<std::string>();
    }
  }
  int64_t size = 0;
  if (!by_id.empty()) size = by_id.rbegin()->first + 1;
  if (!specials.empty()) size = std::max(size, specials.rbegin()->first + 1);
  tok.tokens_.assign(static_cast<size_t>(size), "");
  tok.is_special_.assign(static_cast<size_t>(size), false);
  for (auto& [id, s] : by_id) tok.tokens_[id] = s;
  for (auto& [id, s] : specials) {
    if (!tok.tokens_[id].empty() && tok.tokens_[id] != s)
      throw fail("added token id " + std::to_string(id) + " clashes with vocab entry '" + tok.tokens_[id] + "'");
    tok.tokens_[id] = s;
    tok.is_special_[id] = true;
  }
  std::unordered_map<std::string, int32_t> ids;
  for (size_t id = 0; id < tok.tokens_.size(); ++id)
    if (!tok.tokens_[id].empty()) ids.emplace(tok.tokens_[id], static_cast<int32_t>(id));

  if (!model.contains("merges") || !model["merges"].is_array()) throw fail("model.merges must be an array");
  size_t rank = 0;
  for (const auto& m : model["merges"]) {
    std::string left, right;
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        throw fail("model.merges[" + std::to_string(rank) + "]: expected \"left right\"");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      throw fail("model.merges[" + std::to_string(rank) + "]: expected a string or a pair of strings");
    }
    auto l = ids.find(left), r = ids.find(right);
    if (l == ids.end() || r == ids.end())
      throw fail("model.merges[" + std::to_string(rank) + "]: '" + (l == ids.end() ? left : right) +
                 "' is not in the vocabulary");
    tok.merges_.push_back({l->second, r->second});
    ++rank;
  }
  try {
    tok.build_indexes();
  } catch (const Error& e) {
    throw fail(e.what());
  }
  tok.guess_special_roles();
  return tok;
}

}  // namespace loom
