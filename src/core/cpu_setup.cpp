#include "loom/core/cpu_setup.h"

#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <vector>

namespace loom {
namespace {

template <typename Fn>
Fn openblas_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

bool cpu_has_flag(const std::string& flag) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    return (line + " ").find(" " + flag + " ") != std::string::npos;
  }
  return false;
}

}  // namespace

std::string loaded_blas_library() {
  // /proc/self/maps lists every mapped shared object; the alternatives system
  // resolves libblas.so.3 to a real path that names the implementation.
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (path.find("libopenblas") != std::string::npos || path.find("libmkl") != std::string::npos ||
        path.find("libblis") != std::string::npos)
      return path;
    if (path.find("/libblas.so") != std::string::npos) found = path;
  }
  return found;
}

std::string openblas_core_name() {
  auto corename = openblas_symbol<char* (*)()>("openblas_get_corename");
  return corename ? std::string(corename()) : std::string();
}

bool blas_is_reference() {
  if (!openblas_core_name().empty()) return false;
  std::string lib = loaded_blas_library();
  return lib.find("openblas") == std::string::npos && lib.find("mkl") == std::string::npos &&
         lib.find("blis") == std::string::npos;
}

void warn_if_reference_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (blas_is_reference())
      std::cerr << "loom: warning: BLAS is '" << loaded_blas_library()
                << "', not OpenBLAS; training runs about 10x slower. Run scripts/setup-deps.sh "
                   "(installs libopenblas-dev and selects it for libblas.so.3).\n";
  });
}

void ensure_optimised_blas(int argc, char** argv) {
  (void)argc;
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("LOOM_NO_BLAS_REEXEC")) return;
  const std::string core = openblas_core_name();
  if (core.empty()) return;
  static const std::vector<std::string> generic = {"Prescott", "Core2",  "Katmai",     "Nehalem", "Northwood",
                                                   "Atom",     "Banias", "Dunnington", "Penryn"};
  bool is_generic = false;
  for (const auto& g : generic) is_generic |= (core == g);
  if (!is_generic) return;
  const char* better = cpu_has_flag("avx512f") && cpu_has_flag("avx512bw") ? "SKYLAKEX"
                       : cpu_has_flag("avx2") && cpu_has_flag("fma")       ? "HASWELL"
                                                                           : nullptr;
  if (!better) return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  setenv("LOOM_NO_BLAS_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  // execv only returns on failure: carry on with the slow kernel.
  std::cerr << "loom: warning: OpenBLAS chose its generic '" << core << "' kernel; set OPENBLAS_CORETYPE=" << better
            << " for about 3x faster training\n";
}

int set_blas_threads(int threads) {
  int previous = get_blas_threads();
  if (auto set = openblas_symbol<void (*)(int)>("openblas_set_num_threads")) set(threads);
  return previous;
}

int get_blas_threads() {
  auto get = openblas_symbol<int (*)()>("openblas_get_num_threads");
  return get ? get() : 1;
}

int64_t peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace loom
