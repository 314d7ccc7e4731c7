#include "tokenizer_regex.h"

#include <oniguruma.h>

#include <mutex>

#include "loom/core/error.h"
#include "tokenizer_json.h"

namespace loom::tokenizer_detail {
namespace {

void initialize_oniguruma() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

std::string onig_message(int code, OnigErrorInfo* info) {
  OnigUChar buffer[ONIG_MAX_ERROR_MESSAGE_LEN];
  int n = info ? onig_error_code_to_str(buffer, code, info) : onig_error_code_to_str(buffer, code);
  return std::string(reinterpret_cast<char*>(buffer), n > 0 ? static_cast<size_t>(n) : 0);
}

// One region per thread, reused across searches (onig_search grows it).
struct RegionHolder {
  OnigRegion* region = onig_region_new();
  ~RegionHolder() { onig_region_free(region, 1); }
};

}  // namespace

std::shared_ptr<const Regex> Regex::compile(const std::string& pattern, const std::string& field) {
  initialize_oniguruma();
  std::shared_ptr<Regex> re(new Regex());
  re->pattern_ = pattern;
  OnigErrorInfo info;
  OnigRegex compiled = nullptr;
  const auto* begin = reinterpret_cast<const OnigUChar*>(pattern.data());
  int rc = onig_new(&compiled, begin, begin + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT,
                    &info);
  if (rc != ONIG_NORMAL) throw Error(field + ": invalid regex '" + pattern + "': " + onig_message(rc, &info));
  re->regex_ = compiled;
  return re;
}

Regex::~Regex() {
  if (regex_) onig_free(static_cast<OnigRegex>(regex_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>* out) const {
  thread_local RegionHolder holder;
  auto* regex = static_cast<OnigRegex>(regex_);
  const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
  const OnigUChar* end = str + text.size();
  size_t last_end = 0;
  bool have_last_match = false;
  size_t last_match_end = 0;
  while (last_end <= text.size()) {
    int pos = onig_search(regex, str, end, str + last_end, end, holder.region, ONIG_OPTION_NONE);
    if (pos == ONIG_MISMATCH) return;
    if (pos < 0) throw Error("regex '" + pattern_ + "': " + onig_message(pos, nullptr));
    size_t s = static_cast<size_t>(holder.region->beg[0]), e = static_cast<size_t>(holder.region->end[0]);
    if (s == e && have_last_match && last_match_end == e) {
      // Advance by one character (UTF-8 lead byte gives its length).
      if (last_end >= text.size()) return;
      auto lead = static_cast<unsigned char>(text[last_end]);
      last_end += lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      continue;
    }
    last_end = e;
    have_last_match = true;
    last_match_end = e;
    out->emplace_back(s, e);
  }
}

Pattern Pattern::parse(const json& j, const std::string& path) {
  Pattern p;
  if (!j.is_object() || j.size() != 1 || !(j.contains("String") || j.contains("Regex")))
    fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
  bool regex = j.contains("Regex");
  const json& v = regex ? j["Regex"] : j["String"];
  if (!v.is_string()) fail(path + (regex ? ".Regex" : ".String"), "expected a string");
  p.source_ = v.get<std::string>();
  // HF compiles a literal as an escaped regex; for a non-empty literal that
  // is plain leftmost non-overlapping search, done here without the engine.
  if (regex || p.source_.empty()) p.regex_ = Regex::compile(p.source_, path + (regex ? ".Regex" : ".String"));
  return p;
}

void Pattern::find_matches(std::string_view text, MatchList* out) const {
  out->clear();
  if (text.empty()) return out->push_back({{0, 0}, false});
  thread_local std::vector<std::pair<size_t, size_t>> found;
  found.clear();
  if (regex_) {
    regex_->find_all(text, &found);
  } else {
    size_t at = 0;
    while ((at = text.find(source_, at)) != std::string_view::npos) {
      found.emplace_back(at, at + source_.size());
      at += source_.size();
    }
  }
  size_t prev = 0;
  for (auto [s, e] : found) {
    if (prev != s) out->push_back({{prev, s}, false});
    out->push_back({{s, e}, true});
    prev = e;
  }
  if (prev != text.size()) out->push_back({{prev, text.size()}, false});
}

}  // namespace loom::tokenizer_detail
