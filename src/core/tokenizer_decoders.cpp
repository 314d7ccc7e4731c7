#include "tokenizer_decoders.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include "loom/core/registry.h"
#include "tokenizer_regex.h"
#include "tokenizer_unicode.h"

namespace loom::tokenizer_detail {
namespace {

// ---------- decoders ----------

// Byte-level characters back to bytes, per token; a token with any other
// character is kept as written (HF). HF then replaces invalid UTF-8 with
// U+FFFD; loom keeps the bytes, so that decode(encode(x)) == x for any bytes.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    std::string out, bytes;
    for (const std::string& t : *tokens) {
      bytes.clear();
      bool ok = true;
      size_t i = 0;
      while (ok && i < t.size()) {
        size_t len = utf8_length_of_lead(static_cast<unsigned char>(t[i]));
        int b = valid_utf8_prefix(t, i) >= len ? byte_of_char(next_code_point(t, &i)) : -1;
        if (b < 0) ok = false;
        bytes.push_back(static_cast<char>(b));
      }
      out += ok ? bytes : t;
    }
    tokens->assign(1, std::move(out));
  }
};

enum class PrependScheme { Always, First, Never };

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, PrependScheme scheme)
      : replacement_(std::move(replacement)), scheme_(scheme) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (size_t k = 0; k < tokens->size(); ++k) {
      std::string& t = (*tokens)[k];
      std::string out;
      size_t at = 0, hit;
      while ((hit = t.find(replacement_, at)) != std::string::npos) {
        out.append(t, at, hit - at);
        if (!(k == 0 && scheme_ != PrependScheme::Never)) out += ' ';
        at = hit + replacement_.size();
      }
      out.append(t, at, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    MatchList matches;
    for (std::string& t : *tokens) {
      pattern_.find_matches(t, &matches);
      std::string out;
      for (auto& [r, m] : matches)
        out += m ? std::string_view(content_) : std::string_view(t).substr(r.first, r.second - r.first);
      t.swap(out);
    }
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// <0xXX> tokens to bytes; a run of them that is not valid UTF-8 becomes one
// U+FFFD per byte (HF).
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    auto flush = [&] {
      if (bytes.empty()) return;
      if (valid_utf8_prefix(bytes, 0) == bytes.size())
        out.push_back(bytes);
      else
        for (size_t k = 0; k < bytes.size(); ++k) out.push_back("\xEF\xBF\xBD");
      bytes.clear();
    };
    for (std::string& t : *tokens) {
      int value = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        auto hex = [](char c) {
          return c >= '0' && c <= '9'   ? c - '0'
                 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                 : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : -1;
        };
        int hi = hex(t[3]), lo = hex(t[4]);
        if (hi >= 0 && lo >= 0) value = hi * 16 + lo;
      }
      if (value >= 0) {
        bytes.push_back(static_cast<char>(value));
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens->swap(out);
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    std::string all;
    for (const auto& t : *tokens) all += t;
    tokens->assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character
// from every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) {
      size_t begin = 0, end = t.size();
      for (size_t k = 0; k < start_ && t.compare(begin, content_.size(), content_) == 0 && begin < end; ++k)
        begin += content_.size();
      for (size_t k = 0; k < stop_ && end >= begin + content_.size() &&
                         t.compare(end - content_.size(), content_.size(), content_) == 0;
           ++k)
        end -= content_.size();
      t = t.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class BpeSuffixDecoder : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (size_t k = 0; k < tokens->size(); ++k) {
      std::string& t = (*tokens)[k];
      if (suffix_.empty()) continue;
      std::string out;
      size_t at = 0, hit;
      while ((hit = t.find(suffix_, at)) != std::string::npos) {
        out.append(t, at, hit - at);
        if (k + 1 != tokens->size()) out += ' ';
        at = hit + suffix_.size();
      }
      out.append(t, at, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::string suffix_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<const Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (const auto& s : steps_) s->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<const Decoder>> steps_;
};

PrependScheme parse_scheme(const json& j, const std::string& path) {
  std::string scheme = string_field(j, "prepend_scheme", path, std::string("always"));
  PrependScheme s;
  if (scheme == "always")
    s = PrependScheme::Always;
  else if (scheme == "first")
    s = PrependScheme::First;
  else if (scheme == "never")
    s = PrependScheme::Never;
  else
    fail(path + ".prepend_scheme", "unknown '" + scheme + "'; valid: always, first, never");
  if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>())
    s = PrependScheme::Never;
  return s;
}

struct DecoderType {
  std::function<std::unique_ptr<const Decoder>(const json&, const std::string&)> parse;
};

void register_all_decoders(Registry<DecoderType>& r) {
  r.add("ByteLevel", {[](const json&, const std::string&) { return std::make_unique<ByteLevelDecoder>(); }});
  r.add("Metaspace", {[](const json& j, const std::string& path) {
          return std::make_unique<MetaspaceDecoder>(char_field(j, "replacement", path), parse_scheme(j, path));
        }});
  r.add("Replace", {[](const json& j, const std::string& path) {
          Pattern pattern = Pattern::parse(field(j, "pattern", path), path + ".pattern");
          return std::make_unique<ReplaceDecoder>(std::move(pattern), string_field(j, "content", path));
        }});
  r.add("ByteFallback", {[](const json&, const std::string&) { return std::make_unique<ByteFallbackDecoder>(); }});
  r.add("Fuse", {[](const json&, const std::string&) { return std::make_unique<FuseDecoder>(); }});
  r.add("Strip", {[](const json& j, const std::string& path) {
          return std::make_unique<StripDecoder>(char_field(j, "content", path),
                                                static_cast<size_t>(int_field(j, "start", path, 0, 1 << 20)),
                                                static_cast<size_t>(int_field(j, "stop", path, 0, 1 << 20)));
        }});
  r.add("BPEDecoder", {[](const json& j, const std::string& path) {
          return std::make_unique<BpeSuffixDecoder>(string_field(j, "suffix", path, std::string("</w>")));
        }});
  r.add("Sequence", {[](const json& j, const std::string& path) {
          const json& list = array_field(j, "decoders", path);
          std::vector<std::unique_ptr<const Decoder>> steps;
          for (size_t k = 0; k < list.size(); ++k) {
            std::string p = path + ".decoders[" + std::to_string(k) + "]";
            if (list[k].is_null()) fail(p, "expected a decoder");
            steps.push_back(parse_decoder(list[k], p));
          }
          return std::make_unique<SequenceDecoder>(std::move(steps));
        }});
}

const Registry<DecoderType>& decoder_types() {
  static Registry<DecoderType> registry("decoder type", register_all_decoders);
  return registry;
}

// ---------- post-processors ----------

// A special token of a template: {"id": name, "ids": [...], "tokens": [...]}.
std::vector<int32_t> template_token_ids(const json& special_tokens, const std::string& name, const std::string& path) {
  if (!special_tokens.is_object() || !special_tokens.contains(name))
    fail(path + ".special_tokens", "has no entry for '" + name + "', which the template uses");
  const json& t = special_tokens[name];
  std::string where = path + ".special_tokens['" + name + "']";
  const json& ids = array_field(t, "ids", where);
  std::vector<int32_t> out;
  for (const json& id : ids) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      fail(where + ".ids", "expected non-negative integer ids");
    out.push_back(id.get<int32_t>());
  }
  return out;
}

void parse_template(const json& j, const std::string& path, SingleTemplate* out) {
  const json& single = field(j, "single", path);
  const json& special = j.contains("special_tokens") ? j["special_tokens"] : json::object();
  std::vector<std::pair<bool, std::string>> pieces;  // (is the sequence, special token name)
  auto add_string_piece = [&](std::string p, const std::string& where) {
    size_t colon = p.find(':');
    if (colon != std::string::npos) p = p.substr(0, colon);  // ":type_id" does not change ids
    if (p.empty() || p[0] != '$') {
      pieces.emplace_back(false, p);
      return;
    }
    std::string seq = p.substr(1);
    if (!(seq.empty() || seq == "A" || seq == "a" || std::all_of(seq.begin(), seq.end(), ::isdigit)))
      fail(where, "a single-sequence template may only use $A, got '" + p + "'");
    pieces.emplace_back(true, "");
  };
  if (single.is_string()) {  // "<s> $A </s>", whitespace-separated
    std::string s = single.get<std::string>();
    size_t at = 0;
    while (at < s.size()) {
      size_t end = s.find(' ', at);
      if (end == std::string::npos) end = s.size();
      if (end > at) add_string_piece(s.substr(at, end - at), path + ".single");
      at = end + 1;
    }
  } else if (single.is_array()) {
    for (size_t k = 0; k < single.size(); ++k) {
      const json& p = single[k];
      std::string where = path + ".single[" + std::to_string(k) + "]";
      if (p.is_string()) {
        add_string_piece(p.get<std::string>(), where);
      } else if (p.is_object() && p.contains("Sequence")) {
        std::string id = string_field(p["Sequence"], "id", where + ".Sequence");
        if (id != "A") fail(where + ".Sequence.id", "a single-sequence template may only use A, got '" + id + "'");
        pieces.emplace_back(true, "");
      } else if (p.is_object() && p.contains("SpecialToken")) {
        pieces.emplace_back(false, string_field(p["SpecialToken"], "id", where + ".SpecialToken"));
      } else {
        fail(where, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
  } else {
    fail(path + ".single", "expected a template (array or string)");
  }
  bool seen_sequence = false;
  for (auto& [is_sequence, name] : pieces) {
    if (is_sequence) {
      if (seen_sequence) fail(path + ".single", "uses the sequence twice");
      seen_sequence = true;
      continue;
    }
    auto ids = template_token_ids(special, name, path);
    auto& side = seen_sequence ? out->after : out->before;
    side.insert(side.end(), ids.begin(), ids.end());
  }
  if (!seen_sequence) fail(path + ".single", "has no $A");
}

// RobertaProcessing / BertProcessing: "cls": [content, id], "sep": [content, id].
int32_t processor_token(const json& j, const char* key, const std::string& path) {
  const json& v = field(j, key, path);
  if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer() || v[1].get<int64_t>() < 0 ||
      v[1].get<int64_t>() > INT32_MAX)
    fail(path + "." + key, "expected [\"token\", id]");
  return v[1].get<int32_t>();
}

struct PostProcessorType {
  std::function<void(const json&, const std::string&, SingleTemplate*)> parse;
};

void register_all_post_processors(Registry<PostProcessorType>& r) {
  r.add("ByteLevel", {[](const json&, const std::string&, SingleTemplate*) {}});  // offsets only
  r.add("TemplateProcessing", {[](const json& j, const std::string& path, SingleTemplate* out) {
          parse_template(j, path, out);
          out->present = true;
        }});
  auto cls_sep = [](const json& j, const std::string& path, SingleTemplate* out) {
    out->before.push_back(processor_token(j, "cls", path));
    out->after.push_back(processor_token(j, "sep", path));
    out->present = true;
  };
  r.add("RobertaProcessing", {cls_sep});
  r.add("BertProcessing", {cls_sep});
  r.add("Sequence", {[](const json& j, const std::string& path, SingleTemplate* out) {
          const json& list = array_field(j, "processors", path);
          for (size_t k = 0; k < list.size(); ++k) {
            SingleTemplate inner = parse_post_processor(list[k], path + ".processors[" + std::to_string(k) + "]");
            // Each processor wraps what the previous ones produced.
            inner.before.insert(inner.before.end(), out->before.begin(), out->before.end());
            out->after.insert(out->after.end(), inner.after.begin(), inner.after.end());
            out->before = std::move(inner.before);
            out->present |= inner.present;
          }
        }});
}

const Registry<PostProcessorType>& post_processor_types() {
  static Registry<PostProcessorType> registry("post_processor type", register_all_post_processors);
  return registry;
}

}  // namespace

std::unique_ptr<const Decoder> parse_decoder(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  if (!j.is_object()) fail(path, "expected an object or null");
  return decoder_types().get(string_field(j, "type", path), path + ".type").parse(j, path);
}

SingleTemplate parse_post_processor(const json& j, const std::string& path) {
  SingleTemplate out;
  if (j.is_null()) return out;
  if (!j.is_object()) fail(path, "expected an object or null");
  post_processor_types().get(string_field(j, "type", path), path + ".type").parse(j, path, &out);
  return out;
}

}  // namespace loom::tokenizer_detail
