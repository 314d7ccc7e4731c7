// Any bytes as tokenizer.json (must load or throw loom::Error), and any bytes
// as text through a fixed tokenizer (decode(encode(x)) == x).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "loom/core/error.h"
#include "loom/core/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const loom::Tokenizer fixed = [] {
    loom::TokenizerTrainOptions opts;
    opts.vocab_size = 300;
    opts.min_frequency = 1;
    return loom::Tokenizer::train({"the quick brown fox 123 jumps, over the lazy dog's back"}, opts);
  }();
  std::string input(reinterpret_cast<const char*>(data), size);
  if (fixed.decode(fixed.encode(input), false) != input) std::abort();
  try {
    loom::Tokenizer tok = loom::Tokenizer::from_json(input, "fuzz.json");
    tok.decode(tok.encode("probe text 42"));
  } catch (const loom::Error&) {
  }
  return 0;
}
