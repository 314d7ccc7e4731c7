#include "tokenizer_pre_tokenizers.h"

#include <functional>

#include "loom/core/registry.h"
#include "tokenizer_unicode.h"

namespace loom::tokenizer_detail {

const char* const kByteLevelRegex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void split_piece(const Piece& in, const MatchList& matches, SplitBehavior behavior, std::vector<Piece>* out) {
  // (range, removed) pairs, as HF computes them.
  thread_local std::vector<std::pair<std::pair<size_t, size_t>, bool>> splits;
  splits.clear();
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (auto& [r, m] : matches) splits.push_back({r, false});
      break;
    case SplitBehavior::Removed: splits.assign(matches.begin(), matches.end()); break;
    case SplitBehavior::Contiguous: {
      bool previous_match = false;
      for (auto& [r, m] : matches) {
        if (m == previous_match && !splits.empty())
          splits.back().first.second = r.second;
        else
          splits.push_back({r, false});
        previous_match = m;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous_match = false;
      for (auto& [r, m] : matches) {
        if (m && !previous_match && !splits.empty())
          splits.back().first.second = r.second;
        else
          splits.push_back({r, false});
        previous_match = m;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous_match = false;
      for (size_t k = matches.size(); k-- > 0;) {
        auto& [r, m] = matches[k];
        if (m && !previous_match && !splits.empty())
          splits.back().first.first = r.first;
        else
          splits.push_back({r, false});
        previous_match = m;
      }
      std::reverse(splits.begin(), splits.end());
      break;
    }
  }
  for (auto& [r, removed] : splits) {
    if (removed || r.first == r.second) continue;
    out->push_back({in.text.substr(r.first, r.second - r.first), in.at_start && r.first == 0, in.byte_level});
  }
}

namespace {

SplitBehavior parse_behavior(const json& j, const std::string& path, std::optional<std::string> fallback) {
  std::string b = string_field(j, "behavior", path, fallback);
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  fail(path + ".behavior",
       "unknown '" + b + "'; valid: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

class ByteLevel : public PreTokenizerStep {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex, const std::string& path) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = Pattern::parse(json{{"Regex", kByteLevelRegex}}, path);
  }
  void apply(const Piece& in, Arena* arena, std::vector<Piece>* out) const override {
    Piece p = in;
    if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) {
      arena->push_back(" ");
      arena->back().append(p.text);
      p.text = arena->back();
    }
    p.byte_level = true;
    if (!regex_) return out->push_back(p);
    thread_local MatchList matches;
    regex_->find_matches(p.text, &matches);
    split_piece(p, matches, SplitBehavior::Isolated, out);
  }

 private:
  bool add_prefix_space_;
  std::optional<Pattern> regex_;
};

class Split : public PreTokenizerStep {
 public:
  Split(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void apply(const Piece& in, Arena*, std::vector<Piece>* out) const override {
    thread_local MatchList matches;
    pattern_.find_matches(in.text, &matches);
    if (invert_)
      for (auto& m : matches) m.second = !m.second;
    split_piece(in, matches, behavior_, out);
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// A split on a character class (Digits, Punctuation, WhitespaceSplit,
// CharDelimiterSplit), optionally inverted (Whitespace).
class CharSplit : public PreTokenizerStep {
 public:
  CharSplit(std::function<bool(uint32_t)> matches, SplitBehavior behavior, bool invert = false)
      : matches_(std::move(matches)), behavior_(behavior), invert_(invert) {}
  void apply(const Piece& in, Arena*, std::vector<Piece>* out) const override {
    thread_local MatchList matches;
    find_char_matches(in.text, matches_, &matches);
    if (invert_)
      for (auto& m : matches) m.second = !m.second;
    split_piece(in, matches, behavior_, out);
  }

 protected:
  std::function<bool(uint32_t)> matches_;
  SplitBehavior behavior_;
  bool invert_;
};

// HF's Whitespace: the regex \w+|[^\w\s]+ kept, the rest removed. Runs of
// word characters and runs of other non-space characters are the matches.
class Whitespace : public PreTokenizerStep {
 public:
  void apply(const Piece& in, Arena*, std::vector<Piece>* out) const override {
    thread_local MatchList matches;
    matches.clear();
    std::string_view t = in.text;
    if (t.empty()) matches.push_back({{0, 0}, false});
    size_t i = 0, last = 0;
    while (i < t.size()) {
      size_t start = i;
      uint32_t cp = next_code_point(t, &i);
      if (is_whitespace(cp)) continue;
      bool word = is_word_char(cp);
      size_t end = i;
      while (end < t.size()) {
        size_t k = end;
        uint32_t c = next_code_point(t, &k);
        if (is_whitespace(c) || is_word_char(c) != word) break;
        end = k;
      }
      if (last < start) matches.push_back({{last, start}, false});
      matches.push_back({{start, end}, true});
      last = i = end;
    }
    if (!t.empty() && last < t.size()) matches.push_back({{last, t.size()}, false});
    for (auto& m : matches) m.second = !m.second;  // Invert + Removed keeps the matches
    split_piece(in, matches, SplitBehavior::Removed, out);
  }
};

enum class PrependScheme { Always, First, Never };

class Metaspace : public PreTokenizerStep {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {
    size_t i = 0;
    replacement_cp_ = next_code_point(replacement_, &i);
  }
  void apply(const Piece& in, Arena* arena, std::vector<Piece>* out) const override {
    std::string s;
    s.reserve(in.text.size() + replacement_.size());
    bool prepend = scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && in.at_start);
    if (prepend && in.text.substr(0, replacement_.size()) != replacement_ && in.text.substr(0, 1) != " ")
      s += replacement_;
    for (char c : in.text) {
      if (c == ' ')
        s += replacement_;
      else
        s += c;
    }
    arena->push_back(std::move(s));
    Piece p{arena->back(), in.at_start, in.byte_level};
    if (!split_) return out->push_back(p);
    thread_local MatchList matches;
    uint32_t rep = replacement_cp_;
    find_char_matches(
        p.text, [rep](uint32_t cp) { return cp == rep; }, &matches);
    split_piece(p, matches, SplitBehavior::MergedWithNext, out);
  }

 private:
  std::string replacement_;
  uint32_t replacement_cp_;
  PrependScheme scheme_;
  bool split_;
};

using Steps = std::vector<std::unique_ptr<const PreTokenizerStep>>;

struct PreTokenizerType {
  std::function<void(const json&, const std::string&, Steps*)> parse;
};

template <typename T, typename... Args>
void add_step(Steps* steps, Args&&... args) {
  steps->push_back(std::make_unique<T>(std::forward<Args>(args)...));
}

void register_all_pre_tokenizers(Registry<PreTokenizerType>& r) {
  r.add("ByteLevel", {[](const json& j, const std::string& path, Steps* steps) {
          add_step<ByteLevel>(steps, bool_field(j, "add_prefix_space", path, false),
                              bool_field(j, "use_regex", path, true), path);
        }});
  r.add("Split", {[](const json& j, const std::string& path, Steps* steps) {
          add_step<Split>(steps, Pattern::parse(field(j, "pattern", path), path + ".pattern"),
                          parse_behavior(j, path, std::nullopt), bool_field(j, "invert", path, false));
        }});
  r.add("Metaspace", {[](const json& j, const std::string& path, Steps* steps) {
          std::string scheme = string_field(j, "prepend_scheme", path, std::string("always"));
          PrependScheme s =
              scheme == "always"  ? PrependScheme::Always
              : scheme == "first" ? PrependScheme::First
              : scheme == "never"
                  ? PrependScheme::Never
                  : (fail(path + ".prepend_scheme", "unknown '" + scheme + "'; valid: always, first, never"),
                     PrependScheme::Never);
          if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() &&
              !j["add_prefix_space"].get<bool>()) {
            if (j.contains("prepend_scheme") && s != PrependScheme::Never)
              fail(path + ".add_prefix_space", "false contradicts prepend_scheme '" + scheme + "'");
            s = PrependScheme::Never;
          }
          add_step<Metaspace>(steps, char_field(j, "replacement", path), s, bool_field(j, "split", path, true));
        }});
  r.add("Digits", {[](const json& j, const std::string& path, Steps* steps) {
          bool individual = bool_field(j, "individual_digits", path, false);
          add_step<CharSplit>(steps, is_numeric, individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
        }});
  r.add("Punctuation", {[](const json& j, const std::string& path, Steps* steps) {
          add_step<CharSplit>(steps, is_punctuation, parse_behavior(j, path, std::string("Isolated")));
        }});
  r.add("Whitespace", {[](const json&, const std::string&, Steps* steps) { add_step<Whitespace>(steps); }});
  r.add("WhitespaceSplit", {[](const json&, const std::string&, Steps* steps) {
          add_step<CharSplit>(steps, is_whitespace, SplitBehavior::Removed);
        }});
  r.add("CharDelimiterSplit", {[](const json& j, const std::string& path, Steps* steps) {
          std::string d = char_field(j, "delimiter", path);
          size_t i = 0;
          uint32_t cp = next_code_point(d, &i);
          add_step<CharSplit>(
              steps, [cp](uint32_t c) { return c == cp; }, SplitBehavior::Removed);
        }});
  r.add("Sequence", {[](const json& j, const std::string& path, Steps* steps) {
          const json& list = array_field(j, "pretokenizers", path);
          for (size_t k = 0; k < list.size(); ++k) {
            std::string p = path + ".pretokenizers[" + std::to_string(k) + "]";
            if (list[k].is_null()) fail(p, "expected a pre-tokenizer");
            for (auto& s : parse_pre_tokenizer(list[k], p)) steps->push_back(std::move(s));
          }
        }});
}

const Registry<PreTokenizerType>& pre_tokenizer_types() {
  static Registry<PreTokenizerType> registry("pre_tokenizer type", register_all_pre_tokenizers);
  return registry;
}

void materialize_byte_level(Piece* p, Arena* arena) {
  arena->emplace_back();
  append_byte_level(p->text, &arena->back());
  p->text = arena->back();
  p->byte_level = false;
}

}  // namespace

Steps parse_pre_tokenizer(const json& j, const std::string& path) {
  Steps steps;
  if (j.is_null()) return steps;
  if (!j.is_object()) fail(path, "expected an object or null");
  std::string type = string_field(j, "type", path);
  pre_tokenizer_types().get(type, path + ".type").parse(j, path, &steps);
  return steps;
}

void pre_tokenize(const Steps& steps, const Piece& piece, Arena* arena, std::vector<Piece>* out) {
  out->clear();
  out->push_back(piece);
  std::vector<Piece> next;
  for (const auto& step : steps) {
    next.clear();
    for (Piece p : *out) {
      if (p.byte_level) materialize_byte_level(&p, arena);
      step->apply(p, arena, &next);
    }
    out->swap(next);
  }
}

}  // namespace loom::tokenizer_detail
