// A checkpoint as loom resumes it. The first byte picks the file:
//  - even: the rest is state.json, which must parse into non-negative,
//    bounded counters or throw loom::Error;
//  - odd: the rest is the `latest` pointer, written into a scratch
//    checkpoints/ directory; whatever it names must be a directory inside it.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "loom/core/error.h"
#include "loom/train/checkpoint_state.h"
#include "nesting_mutator.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string root = [] {
    std::string dir = (fs::temp_directory_path() / ("loom_fuzz_ckpt_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir + "/checkpoints/step-000001");
    fs::create_directories(dir + "/elsewhere");
    return dir + "/checkpoints";
  }();
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      const loom::CheckpointState s = loom::parse_checkpoint_state(rest, "state.json");
      if (s.step < 0 || s.epoch < 0 || s.cursor < 0 || s.step > loom::kMaxCheckpointCounter) std::abort();
    } else {
      {
        // A plain write: write_file_atomic's fsyncs would slow every run down.
        std::ofstream out(root + "/latest", std::ios::binary | std::ios::trunc);
        out.write(rest.data(), static_cast<std::streamsize>(rest.size()));
      }
      const std::string dir = loom::latest_checkpoint_dir(root);
      if (!dir.empty() && (fs::path(dir).parent_path() != fs::path(root) || !fs::is_directory(dir))) std::abort();
    }
  } catch (const loom::Error&) {
  }
  return 0;
}
