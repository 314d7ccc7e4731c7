// UTF-8 helpers shared by the tokenizer and the corpus readers.
#pragma once
#include <cstdint>
#include <string>

namespace loom {

std::string utf8_encode(uint32_t code_point);
// Decodes the code point at s[i] and sets *len. An invalid or truncated
// sequence decodes as the single byte s[i] with *len = 1, so arbitrary bytes
// never loop or read out of bounds.
uint32_t utf8_next(const std::string& s, size_t i, size_t* len);
// Returns valid UTF-8: bytes that do not form a valid sequence are read as
// Latin-1 (what older fortune and dictionary files use).
std::string sanitize_utf8(const std::string& text);

}  // namespace loom
