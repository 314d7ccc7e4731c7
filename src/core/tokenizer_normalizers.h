// tokenizer.json normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Replace,
// Prepend, Strip, StripAccents, Nmt, ByteLevel and Sequence, with Hugging Face
// tokenizers' semantics. Unknown types are refused, naming the field.
#pragma once
#include <memory>
#include <string>

#include "tokenizer_json.h"

namespace loom::tokenizer_detail {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void apply(std::string* text) const = 0;
};

// null -> nullptr (no normalizer).
std::unique_ptr<const Normalizer> parse_normalizer(const json& j, const std::string& path);

}  // namespace loom::tokenizer_detail
