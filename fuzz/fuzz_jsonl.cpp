#include <cstdint>
#include <string>

#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "nesting_mutator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    loom::parse_jsonl(std::string(reinterpret_cast<const char*>(data), size), "fuzz.jsonl",
                      [](const nlohmann::json& row, size_t line) {
                        if (row.is_object() && row.contains("text"))
                          loom::jsonl_string_field(row, "text", "fuzz.jsonl", line);
                        // Visitors copy rows and dump() values into messages: both recurse.
                        const nlohmann::json copy = row;
                        volatile size_t n = copy.dump().size();
                        (void)n;
                      });
  } catch (const loom::Error&) {
  }
  return 0;
}
