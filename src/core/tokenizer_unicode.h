// Unicode helpers for the tokenizer pipeline: character classes with the
// meaning Rust's `char` methods give them (Hugging Face tokenizers is Rust),
// case mapping, normalisation forms (through utf8proc), and GPT-2's
// byte <-> printable-character map.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace loom::tokenizer_detail {

// Decodes the code point at s[i] of valid UTF-8 and advances i.
inline uint32_t next_code_point(std::string_view s, size_t* i) {
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[k])); };
  uint32_t c = b(*i);
  if (c < 0x80) return ++*i, c;
  if (c < 0xE0) return *i += 2, ((c & 0x1F) << 6) | (b(*i - 1) & 0x3F);
  if (c < 0xF0) return *i += 3, ((c & 0x0F) << 12) | ((b(*i - 2) & 0x3F) << 6) | (b(*i - 1) & 0x3F);
  *i += 4;
  return ((c & 0x07) << 18) | ((b(*i - 3) & 0x3F) << 12) | ((b(*i - 2) & 0x3F) << 6) | (b(*i - 1) & 0x3F);
}
inline size_t utf8_length_of_lead(unsigned char lead) {
  return lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
}
// Length of the valid UTF-8 prefix of s starting at i (stops at the first
// invalid or truncated sequence).
size_t valid_utf8_prefix(std::string_view s, size_t i);

bool is_whitespace(uint32_t cp);   // Rust char::is_whitespace (White_Space)
bool is_numeric(uint32_t cp);      // Rust char::is_numeric (Nd, Nl, No)
bool is_punctuation(uint32_t cp);  // HF Punctuation: ASCII punctuation or P*
bool is_word_char(uint32_t cp);    // Rust regex \w: Alphabetic, M, Nd, Pc, Join_Control
bool is_combining_mark(uint32_t cp);
// Assigned in Unicode 9.0, the version of HF's normalisation tables.
bool assigned_in_unicode9(uint32_t cp);

// Rust char::to_lowercase, appended as UTF-8.
void append_lowercase(uint32_t cp, std::string* out);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string normalize_unicode(std::string_view text, NormalForm form);

// GPT-2's byte-level alphabet: every byte as a printable character.
const std::string& byte_to_char(unsigned char byte);  // UTF-8 of the character
int byte_of_char(uint32_t cp);                        // -1 when cp is not in the alphabet
void append_byte_level(std::string_view raw, std::string* out);

}  // namespace loom::tokenizer_detail
