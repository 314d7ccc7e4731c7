// loom::Error is the one exception type loom throws for bad input: malformed
// files, configs, or arguments. Its message names the file, line, key or field.
//
//   throw loom::Error("data.jsonl:12: expected a JSON object");
#pragma once
#include <stdexcept>
#include <string>

namespace loom {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace loom
