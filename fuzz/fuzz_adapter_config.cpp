#include <cstdint>
#include <string>

#include "loom/adapters/lora_config.h"
#include "loom/core/error.h"

// PEFT's adapter_config.json as loom reads it.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto json = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(data), size));
    auto config = loom::LoraConfig::from_peft_json(json, "adapter_config.json");
    volatile double s = config.scaling();
    (void)s;
  } catch (const loom::Error&) {
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
