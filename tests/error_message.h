// Shared by the test suites: the message of the loom::Error that `f` throws,
// or "" if it throws none.
#pragma once
#include <functional>
#include <string>

#include "loom/core/error.h"

namespace loom::testing {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace loom::testing
