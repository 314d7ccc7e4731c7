#include "tokenizer_added_tokens.h"

#include <algorithm>
#include <unordered_map>

#include "tokenizer_unicode.h"

namespace loom::tokenizer_detail {

void AddedVocabulary::Trie::insert(const std::string& pattern, int32_t index) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (unsigned char c : pattern) {
    auto& kids = children[node];
    auto it = std::find_if(kids.begin(), kids.end(), [c](auto& p) { return p.first == c; });
    if (it != kids.end()) {
      node = it->second;
      continue;
    }
    int32_t child = static_cast<int32_t>(children.size());
    kids.emplace_back(c, child);
    children.emplace_back();
    token.push_back(-1);
    node = child;
  }
  token[node] = index;
  first_byte[static_cast<unsigned char>(pattern[0])] = true;
  empty = false;
}

size_t AddedVocabulary::Trie::longest(std::string_view text, size_t i, int32_t* index) const {
  size_t best = 0;
  int32_t node = 0;
  for (size_t k = i; k < text.size(); ++k) {
    const auto& kids = children[node];
    auto c = static_cast<unsigned char>(text[k]);
    auto it = std::find_if(kids.begin(), kids.end(), [c](auto& p) { return p.first == c; });
    if (it == kids.end()) break;
    node = it->second;
    if (token[node] >= 0) {
      best = k + 1 - i;
      *index = token[node];
    }
  }
  return best;
}

void AddedVocabulary::add(std::vector<AddedToken> tokens, const BpeModel& model, const Normalizer* normalizer) {
  std::unordered_map<std::string, int32_t> content_ids;
  for (const auto& t : tokens_) content_ids[t.content] = t.id;
  int32_t model_size = static_cast<int32_t>(model.vocab_entries());
  int32_t next_id = model_size;
  if (!tokens_.empty()) {
    int32_t max_id = 0;
    for (const auto& t : tokens_) max_id = std::max(max_id, t.id);
    next_id = (max_id >= model_size || model_size == 0) ? max_id + 1 : model_size;
  }
  for (auto& t : tokens) {
    if (t.content.empty()) continue;
    auto known = content_ids.find(t.content);
    if (known != content_ids.end()) {
      const AddedToken* same = by_id(known->second);
      if (same && *same == t) continue;
    }
    if (known != content_ids.end())
      t.id = known->second;
    else if (const int32_t* id = model.find(t.content))
      t.id = *id;
    else
      t.id = next_id++;
    t.pattern = t.content;
    if (t.normalized && normalizer) normalizer->apply(&t.pattern);
    content_ids[t.content] = t.id;
    if (static_cast<size_t>(t.id) >= by_id_index_.size()) by_id_index_.resize(static_cast<size_t>(t.id) + 1, -1);
    by_id_index_[t.id] = static_cast<int32_t>(tokens_.size());
    tokens_.push_back(t);
  }
  rebuild();
}

void AddedVocabulary::rebuild() {
  raw_ = Trie();
  normalized_ = Trie();
  // Only the token currently holding each id is matched (HF's map by id).
  for (int32_t k : by_id_index_)
    if (k >= 0) (tokens_[k].normalized ? normalized_ : raw_).insert(tokens_[k].pattern, k);
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= by_id_index_.size() || by_id_index_[id] < 0) return nullptr;
  return &tokens_[by_id_index_[id]];
}

namespace {
// Last and first characters, for single_word (\w at the edge, Rust regex).
bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t at = s.size() - 1;
  while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
  size_t i = at;
  return is_word_char(next_code_point(s, &i));
}
bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  return is_word_char(next_code_point(s, &i));
}
}  // namespace

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<Segment>* out) const {
  const Trie& trie = normalized ? normalized_ : raw_;
  out->clear();
  if (trie.empty || text.empty()) {
    if (!text.empty()) out->push_back({0, text.size(), -1});
    return;
  }
  size_t start_offset = 0, pos = 0;
  while (pos < text.size()) {
    // Leftmost-longest: the first position where some token matches.
    int32_t index = -1;
    size_t length = 0;
    size_t at = pos;
    for (; at < text.size(); ++at) {
      if (!trie.first_byte[static_cast<unsigned char>(text[at])]) continue;
      length = trie.longest(text, at, &index);
      if (length) break;
    }
    if (!length) break;
    size_t start = at, stop = at + length;
    pos = stop;  // the matcher resumes after this match even if it is skipped below
    const AddedToken& t = tokens_[index];
    if (t.single_word) {
      bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      // Leftmost whitespace of the run that ends at `start` (\s*$).
      size_t s = start;
      while (s > 0) {
        size_t a = s - 1;
        while (a > 0 && (static_cast<unsigned char>(text[a]) & 0xC0) == 0x80) --a;
        size_t i = a;
        if (!is_whitespace(next_code_point(text, &i))) break;
        s = a;
      }
      start = std::max(s, start_offset);
    }
    if (t.rstrip) {
      size_t i = stop;
      while (i < text.size()) {
        size_t a = i;
        if (!is_whitespace(next_code_point(text, &i))) {
          i = a;
          break;
        }
      }
      stop = i;
    }
    if (start_offset < start) out->push_back({start_offset, start, -1});
    out->push_back({start, stop, t.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out->push_back({start_offset, text.size(), -1});
}

}  // namespace loom::tokenizer_detail
