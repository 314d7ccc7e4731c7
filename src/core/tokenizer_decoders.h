// tokenizer.json decoders (ByteLevel, Metaspace, Replace, ByteFallback,
// Fuse, Strip, BPEDecoder, Sequence) and post-processors (TemplateProcessing,
// RobertaProcessing, BertProcessing, ByteLevel, Sequence), with Hugging Face
// tokenizers' semantics. Unknown types are refused, naming the field.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer_json.h"

namespace loom::tokenizer_detail {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // HF's decode_chain: token strings in, strings out.
  virtual void decode_chain(std::vector<std::string>* tokens) const = 0;
};
std::unique_ptr<const Decoder> parse_decoder(const json& j, const std::string& path);  // null -> nullptr

// What a post-processor adds around a single sequence (HF's encode with
// add_special_tokens). `token_id` resolves a special token's content.
struct SingleTemplate {
  std::vector<int32_t> before, after;
  bool present = false;  // the file has a post-processor that adds tokens
};
SingleTemplate parse_post_processor(const json& j, const std::string& path);  // null -> nothing added

}  // namespace loom::tokenizer_detail
