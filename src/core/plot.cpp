#include "loom/core/plot.h"

#include <cstdio>
#include <iostream>

namespace loom {

bool run_gnuplot(const std::string& script, const std::string& what) {
  FILE* pipe = popen("gnuplot 2>&1", "w");
  if (!pipe) {
    std::cerr << "loom: warning: cannot run gnuplot; " << what << " not drawn\n";
    return false;
  }
  std::fwrite(script.data(), 1, script.size(), pipe);
  const int status = pclose(pipe);
  if (status != 0) {
    std::cerr << "loom: warning: gnuplot failed (status " << status << "); " << what
              << " not drawn (install gnuplot-nox)\n";
    return false;
  }
  return true;
}

}  // namespace loom
