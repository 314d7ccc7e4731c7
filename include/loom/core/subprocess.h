// Running a child program and capturing its standard output, without a shell:
// arguments are passed as they are (no quoting, no injection), the
// environment can be extended for the child only.
//
//   std::string out = loom::run_capture({"/usr/bin/python3", "bench/x.py", "--n", "3"},
//                                       {{"OPENBLAS_NUM_THREADS", "1"}});
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace loom {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// Runs argv[0] (searched on PATH when it has no '/') with `extra_env` added
// to this process's environment; stderr is inherited. Returns everything the
// child wrote to stdout; throws loom::Error naming the program when it cannot
// start, is killed by a signal or exits non-zero.
std::string run_capture(const std::vector<std::string>& argv, const EnvVars& extra_env = {});

}  // namespace loom
