#include <cstdint>
#include <string>

#include "loom/core/error.h"
#include "loom/core/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto a = loom::parse_idx(std::string(reinterpret_cast<const char*>(data), size), "fuzz.idx");
    volatile size_t touch = a.data.empty() ? 0 : a.data.back() + a.item_size();
    (void)touch;
  } catch (const loom::Error&) {
  }
  return 0;
}
