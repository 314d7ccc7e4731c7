// The tokenizer under arbitrary input. The first byte picks the target:
//  - even: the rest is a tokenizer.json, which must load or throw loom::Error,
//    and then encode and decode a probe without crashing;
//  - odd: the rest is text, encoded and decoded by fixed tokenizers that cover
//    the pipeline (byte-level BPE, whose decode(encode(x)) must give x back
//    for any bytes; a SentencePiece-style one with normalizers, byte fallback
//    and a template; one with regex splits, Metaspace and added-token options).
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "loom/core/error.h"
#include "loom/core/tokenizer.h"

namespace {

loom::Tokenizer trained() {
  loom::TokenizerTrainOptions opts;
  opts.vocab_size = 300;
  opts.min_frequency = 1;
  return loom::Tokenizer::train({"the quick brown fox 123 jumps, over the lazy dog's back"}, opts);
}

// A pipeline that uses most components, on the trained vocabulary.
const char* kPipeline = R"json({
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
    {"type": "Replace", "pattern": {"Regex": "\\s{3,}"}, "content": "  "}, {"type": "Prepend", "prepend": "_"}]},
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t)|\\p{N}{1,3}|\\s+(?!\\S)"}, "behavior": "Isolated", "invert": false},
    {"type": "Digits", "individual_digits": true}, {"type": "Punctuation", "behavior": "Contiguous"},
    {"type": "Metaspace", "replacement": "_", "prepend_scheme": "first", "split": true},
    {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}]},
  "decoder": {"type": "Sequence", "decoders": [{"type": "ByteLevel"}, {"type": "Replace", "pattern": {"String": "_"}, "content": " "},
    {"type": "Strip", "content": " ", "start": 1, "stop": 1}]}
})json";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const loom::Tokenizer byte_level = trained();
  static const loom::Tokenizer pipeline = [] {
    auto j = nlohmann::json::parse(byte_level.to_json());
    j.update(nlohmann::json::parse(kPipeline));
    j["added_tokens"].push_back({{"id", 0},
                                 {"content", "fox"},
                                 {"single_word", true},
                                 {"lstrip", true},
                                 {"rstrip", true},
                                 {"normalized", true},
                                 {"special", false}});
    return loom::Tokenizer::from_json(j.dump(), "pipeline");
  }();
  if (size == 0) return 0;
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 1) {
    if (byte_level.decode(byte_level.encode(input), false) != input) std::abort();
    pipeline.decode(pipeline.encode_templated(input), data[0] & 2);
    return 0;
  }
  try {
    loom::Tokenizer tok = loom::Tokenizer::from_json(input, "fuzz.json");
    tok.decode(tok.encode_templated("probe text 42 <s> \xC3\xA9 \xFF"), false);
  } catch (const loom::Error&) {
  }
  return 0;
}
