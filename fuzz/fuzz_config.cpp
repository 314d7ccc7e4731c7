#include <cstdint>
#include <string>

#include "loom/core/error.h"
#include "loom/core/params.h"
#include "nesting_mutator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  loom::Params params({{"lr", loom::ParamType::Float, "0.1", ""},
                       {"steps", loom::ParamType::Int, "1", ""},
                       {"name", loom::ParamType::String, "", ""},
                       {"mode", loom::ParamType::String, "a", "", {"a", "b"}},
                       {"flag", loom::ParamType::Bool, "false", ""}});
  try {
    params.load_yaml_string(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
    loom::Params again = params;
    again.load_yaml_string(params.dump_yaml(), "dump");  // what loom writes, it reads back
  } catch (const loom::Error&) {
  }
  return 0;
}
