#include "tokenizer_normalizers.h"

#include <functional>
#include <vector>

#include "loom/core/registry.h"
#include "loom/core/utf8.h"
#include "tokenizer_regex.h"
#include "tokenizer_unicode.h"

namespace loom::tokenizer_detail {
namespace {

class UnicodeForm : public Normalizer {
 public:
  explicit UnicodeForm(NormalForm form) : form_(form) {}
  void apply(std::string* text) const override { *text = normalize_unicode(*text, form_); }

 private:
  NormalForm form_;
};

class Lowercase : public Normalizer {
 public:
  void apply(std::string* text) const override {
    std::string out;
    out.reserve(text->size());
    size_t i = 0;
    while (i < text->size()) append_lowercase(next_code_point(*text, &i), &out);
    text->swap(out);
  }
};

class Replace : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void apply(std::string* text) const override {
    MatchList matches;
    pattern_.find_matches(*text, &matches);
    std::string out;
    out.reserve(text->size());
    for (auto& [range, is_match] : matches)
      out += is_match ? std::string_view(content_)
                      : std::string_view(*text).substr(range.first, range.second - range.first);
    text->swap(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void apply(std::string* text) const override {
    if (!text->empty()) text->insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void apply(std::string* text) const override {
    size_t begin = 0, end = text->size();
    if (left_) {
      size_t i = 0;
      while (i < end) {
        size_t at = i;
        if (!is_whitespace(next_code_point(*text, &i))) {
          i = at;
          break;
        }
      }
      begin = i;
    }
    if (right_) {
      while (end > begin) {
        size_t at = end - 1;
        while (at > begin && (static_cast<unsigned char>((*text)[at]) & 0xC0) == 0x80) --at;
        size_t i = at;
        if (!is_whitespace(next_code_point(*text, &i))) break;
        end = at;
      }
    }
    *text = text->substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

// Keeps the characters `keep` accepts, mapped through `map` (HF's
// NormalizedString::filter and ::map).
class FilterMap : public Normalizer {
 public:
  FilterMap(std::function<bool(uint32_t)> keep, std::function<uint32_t(uint32_t)> map)
      : keep_(std::move(keep)), map_(std::move(map)) {}
  void apply(std::string* text) const override {
    std::string out;
    out.reserve(text->size());
    size_t i = 0;
    while (i < text->size()) {
      uint32_t cp = next_code_point(*text, &i);
      if (keep_(cp)) out += utf8_encode(map_ ? map_(cp) : cp);
    }
    text->swap(out);
  }

 private:
  std::function<bool(uint32_t)> keep_;
  std::function<uint32_t(uint32_t)> map_;
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void apply(std::string* text) const override {
    std::string out;
    append_byte_level(*text, &out);
    text->swap(out);
  }
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<const Normalizer>> steps) : steps_(std::move(steps)) {}
  void apply(std::string* text) const override {
    for (const auto& s : steps_) s->apply(text);
  }

 private:
  std::vector<std::unique_ptr<const Normalizer>> steps_;
};

struct NormalizerType {
  std::function<std::unique_ptr<const Normalizer>(const json&, const std::string&)> parse;
};

void register_all_normalizers(Registry<NormalizerType>& r) {
  auto form = [](NormalForm f) {
    return NormalizerType{[f](const json&, const std::string&) { return std::make_unique<UnicodeForm>(f); }};
  };
  r.add("NFC", form(NormalForm::NFC));
  r.add("NFD", form(NormalForm::NFD));
  r.add("NFKC", form(NormalForm::NFKC));
  r.add("NFKD", form(NormalForm::NFKD));
  r.add("Lowercase", {[](const json&, const std::string&) { return std::make_unique<Lowercase>(); }});
  r.add("Replace", {[](const json& j, const std::string& path) {
          Pattern pattern = Pattern::parse(field(j, "pattern", path), path + ".pattern");
          return std::make_unique<Replace>(std::move(pattern), string_field(j, "content", path));
        }});
  r.add("Prepend", {[](const json& j, const std::string& path) {
          return std::make_unique<Prepend>(string_field(j, "prepend", path));
        }});
  r.add("Strip", {[](const json& j, const std::string& path) {
          return std::make_unique<Strip>(bool_field(j, "strip_left", path), bool_field(j, "strip_right", path));
        }});
  r.add("StripAccents", {[](const json&, const std::string&) {
          return std::make_unique<FilterMap>([](uint32_t cp) { return !is_combining_mark(cp); }, nullptr);
        }});
  // Nmt: HF's do_nmt, control characters dropped and odd spaces made ' '.
  r.add("Nmt", {[](const json&, const std::string&) {
          auto keep = [](uint32_t c) {
            return !((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F ||
                     c == 0x9F);
          };
          auto map = [](uint32_t c) -> uint32_t {
            bool space = c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
                         (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF ||
                         c == 0xFFFD;
            return space ? ' ' : c;
          };
          return std::make_unique<FilterMap>(keep, map);
        }});
  r.add("ByteLevel", {[](const json&, const std::string&) { return std::make_unique<ByteLevelNormalizer>(); }});
  r.add("Sequence", {[](const json& j, const std::string& path) {
          const json& list = array_field(j, "normalizers", path);
          std::vector<std::unique_ptr<const Normalizer>> steps;
          for (size_t k = 0; k < list.size(); ++k) {
            std::string p = path + ".normalizers[" + std::to_string(k) + "]";
            if (list[k].is_null()) fail(p, "expected a normalizer");
            steps.push_back(parse_normalizer(list[k], p));
          }
          return std::make_unique<Sequence>(std::move(steps));
        }});
}

const Registry<NormalizerType>& normalizer_types() {
  static Registry<NormalizerType> registry("normalizer type", register_all_normalizers);
  return registry;
}

}  // namespace

std::unique_ptr<const Normalizer> parse_normalizer(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  if (!j.is_object()) fail(path, "expected an object or null");
  std::string type = string_field(j, "type", path);
  return normalizer_types().get(type, path + ".type").parse(j, path);
}

}  // namespace loom::tokenizer_detail
