// Running the loom binary from a test. The command line goes through the
// shell on purpose: tests quote prompts, set variables for one run and start
// a second rank in the background. stdout and stderr land in one log, whose
// text comes back with the exit code (128 + signal when killed) and the wall
// time, so a test can assert on the error message a user would see.
#pragma once
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "loom/core/atomic_file.h"

namespace loom::testing {

struct CliRun {
  int exit_code;
  std::string output;
  double seconds;
};

// Runs `<env> LOOM_BINARY <args> > log_path 2>&1`; LOOM_BINARY is the path of
// the binary under test, defined by the test's CMake target.
inline CliRun run_loom(const std::string& args, const std::string& log_path, const std::string& env = "") {
  const std::string cmd = env + " " + LOOM_BINARY + " " + args + " > " + log_path + " 2>&1";
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), loom::read_file_text(log_path), seconds};
}

}  // namespace loom::testing
