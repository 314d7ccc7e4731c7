// Any bytes: parse must either succeed with every view inside the buffer, or
// throw loom::Error. ASan/UBSan catch any out-of-bounds read.
#include <cstdint>
#include <vector>

#include "loom/core/error.h"
#include "loom/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = loom::safetensors::File::parse(std::vector<uint8_t>(data, data + size), "fuzz");
    volatile uint8_t sink = 0;
    for (const auto& t : file.tensors())
      for (size_t i = 0; i < t.nbytes; i += 64) sink ^= t.data[i];
  } catch (const loom::Error&) {
  }
  return 0;
}
