#include "tokenizer_unicode.h"

#include <utf8proc.h>

#include <array>
#include <cstdlib>

#include "loom/core/error.h"
#include "loom/core/utf8.h"

namespace loom::tokenizer_detail {

size_t valid_utf8_prefix(std::string_view s, size_t i) {
  size_t start = i;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_length_of_lead(c);
    if (c < 0xC2 || c > 0xF4 || i + n > s.size()) break;
    uint32_t cp = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    bool ok = true;
    for (size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    if (!ok || cp < min_for_length[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) break;
    i += n;
  }
  return i - start;
}

namespace {
utf8proc_category_t category(uint32_t cp) { return utf8proc_category(static_cast<utf8proc_int32_t>(cp)); }
}  // namespace

bool is_whitespace(uint32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_numeric(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool is_punctuation(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool is_combining_mark(uint32_t cp) {
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

bool is_word_char(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  auto c = category(cp);
  if ((c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_ND) || c == UTF8PROC_CATEGORY_NL ||
      c == UTF8PROC_CATEGORY_PC)
    return true;
  // Join_Control, and the Other_Alphabetic symbols (circled and squared
  // letters) that Alphabetic adds beyond letters and marks. utf8proc has no
  // Alphabetic property, so these few ranges are listed here.
  return cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
         (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189);
}

void append_lowercase(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    return;
  }
  // U+0130 is the only unconditional multi-character lowercase mapping in
  // SpecialCasing.txt, which Rust applies and utf8proc's simple mapping does not.
  if (cp == 0x130) {
    out->append("i\xCC\x87");
    return;
  }
  *out += utf8_encode(static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
}

namespace {
std::string normalize_chunk(std::string_view text, NormalForm form) {
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::NFC: options |= UTF8PROC_COMPOSE; break;
    case NormalForm::NFD: options |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::NFKC: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::NFKD: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                   &mapped, static_cast<utf8proc_option_t>(options));
  if (n < 0) throw Error(std::string("unicode normalisation failed: ") + utf8proc_errmsg(n));
  std::string out(reinterpret_cast<char*>(mapped), static_cast<size_t>(n));
  std::free(mapped);
  return out;
}
}  // namespace

std::string normalize_unicode(std::string_view text, NormalForm form) {
  bool ascii = true;
  for (char c : text) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);  // every normal form leaves ASCII unchanged
  // A character unknown to Unicode 9.0 is, for HF, a starter without a
  // decomposition: it blocks reordering and composition across it and stays
  // as it is. Normalising the chunks between such characters does the same.
  std::string out;
  size_t chunk = 0, i = 0;
  while (i < text.size()) {
    size_t at = i;
    uint32_t cp = next_code_point(text, &i);
    if (cp < 0x80 || assigned_in_unicode9(cp)) continue;
    out += normalize_chunk(text.substr(chunk, at - chunk), form);
    out.append(text.substr(at, i - at));
    chunk = i;
  }
  if (chunk < text.size()) out += normalize_chunk(text.substr(chunk), form);
  return out;
}

namespace {
struct ByteAlphabet {
  std::array<std::string, 256> to_char;
  std::array<int16_t, 324> from_cp;  // the alphabet's code points are all below 324
  ByteAlphabet() {
    from_cp.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + extra++);
      to_char[b] = utf8_encode(cp);
      from_cp[cp] = static_cast<int16_t>(b);
    }
  }
};
const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}
}  // namespace

const std::string& byte_to_char(unsigned char byte) { return alphabet().to_char[byte]; }
int byte_of_char(uint32_t cp) { return cp < 324 ? alphabet().from_cp[cp] : -1; }
void append_byte_level(std::string_view raw, std::string* out) {
  const auto& a = alphabet();
  for (unsigned char c : raw) *out += a.to_char[c];
}

}  // namespace loom::tokenizer_detail
