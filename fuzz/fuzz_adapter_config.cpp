#include <cstdint>
#include <cstdlib>
#include <string>

#include "loom/adapters/lora_config.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "nesting_mutator.h"

// PEFT's adapter_config.json as loom reads it (parse with limits, then the
// fields); an accepted config has a rank in [1, kMaxLoraRank].
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto json = loom::parse_json(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size,
                                 "adapter_config.json");
    auto config = loom::LoraConfig::from_peft_json(json, "adapter_config.json");
    if (config.r < 1 || config.r > loom::kMaxLoraRank) std::abort();
    volatile double s = config.scaling();
    (void)s;
  } catch (const loom::Error&) {
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
