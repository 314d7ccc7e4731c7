// Shared by the test suites: an empty scratch directory unique to this test
// process, under the system temp directory.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace loom::testing {

inline std::string fresh_temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / ("loom_" + name + "_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  return dir;
}

}  // namespace loom::testing
