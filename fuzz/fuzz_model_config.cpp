// A model directory's config.json as loom reads it: parse with limits, then
// the Llama config's fields and ranges. UBSan checks that the sizes computed
// from an accepted config never overflow.
#include <cstdint>
#include <string>

#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/models/llama/llama_config.h"
#include "nesting_mutator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto json = loom::parse_json(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size,
                                       "config.json");
    const auto config = loom::LlamaConfig::from_json(json, "config.json");
    volatile int64_t n = config.num_parameters() + config.num_rope_values();
    (void)n;
    loom::LlamaConfig::from_json(config.to_json(), "round trip");  // what loom writes, it reads back
  } catch (const loom::Error&) {
  }
  return 0;
}
