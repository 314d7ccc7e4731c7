// Regular expressions for tokenizer.json patterns, through Oniguruma: the
// engine Hugging Face tokenizers compiles them with (its `onig` crate), with
// the same syntax (Ruby, Oniguruma's default), options (none) and encoding
// (UTF-8), so Unicode properties, look-around and case folding match it.
//
//   auto re = Regex::compile("\\p{N}{1,3}", "pre_tokenizer.pattern.Regex");
//   re->for_each_match(text, [&](size_t start, size_t end) { ... });
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace loom::tokenizer_detail {

class Regex {
 public:
  // Throws loom::Error naming `field` when Oniguruma rejects the pattern.
  static std::shared_ptr<const Regex> compile(const std::string& pattern, const std::string& field);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches, left to right, as (start, end) byte offsets,
  // with the onig crate's FindMatches rule for empty matches (one right after
  // the previous match is skipped by advancing one character). `text` must be
  // valid UTF-8.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>* out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  void* regex_ = nullptr;  // OnigRegex; kept opaque so that callers do not include oniguruma.h
  std::string pattern_;
};

// Hugging Face's Pattern::find_matches: the text cut into pieces that match
// (true) and the gaps between them (false), covering it in order. An empty
// text gives one empty non-match.
using MatchList = std::vector<std::pair<std::pair<size_t, size_t>, bool>>;

// A tokenizer.json pattern: {"String": literal} or {"Regex": regex}.
class Pattern {
 public:
  // `j` is the pattern object; `path` names it in errors.
  static Pattern parse(const nlohmann::json& j, const std::string& path);
  void find_matches(std::string_view text, MatchList* out) const;
  bool is_regex() const { return regex_ != nullptr; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;                  // the literal or the regex as written
  std::shared_ptr<const Regex> regex_;  // null for a non-empty literal
};

// find_matches for a character predicate (HF's Fn(char) -> bool patterns):
// every matching character is a match of its own.
template <typename Predicate>
void find_char_matches(std::string_view text, Predicate matches, MatchList* out);

}  // namespace loom::tokenizer_detail

#include "tokenizer_unicode.h"

namespace loom::tokenizer_detail {
template <typename Predicate>
void find_char_matches(std::string_view text, Predicate matches, MatchList* out) {
  out->clear();
  if (text.empty()) return out->push_back({{0, 0}, false});
  size_t last = 0, i = 0;
  while (i < text.size()) {
    size_t start = i;
    uint32_t cp = next_code_point(text, &i);
    if (!matches(cp)) continue;
    if (last < start) out->push_back({{last, start}, false});
    out->push_back({{start, i}, true});
    last = i;
  }
  if (last < text.size()) out->push_back({{last, text.size()}, false});
}
}  // namespace loom::tokenizer_detail
