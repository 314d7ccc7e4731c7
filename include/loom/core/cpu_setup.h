// CPU set-up that decides training speed on Debian's LibTorch:
//  - which BLAS is loaded (the reference BLAS trains ~10x slower than OpenBLAS);
//  - which OpenBLAS kernel runs: under some hypervisors OpenBLAS's CPU
//    detection falls back to its generic "Prescott" kernel (3-4x slower), so
//    loom re-executes itself once with OPENBLAS_CORETYPE naming the right one;
//  - how many threads OpenBLAS uses, which LibTorch does not control.
//
//   int main(int argc, char** argv) { loom::ensure_optimised_blas(argc, argv); ... }
#pragma once
#include <string>

namespace loom {

// Path of the libblas/libopenblas the process has mapped, or "" if none.
std::string loaded_blas_library();
// OpenBLAS's kernel name (e.g. "SkylakeX"), or "" when OpenBLAS is not loaded.
std::string openblas_core_name();
// True when the loaded BLAS is not OpenBLAS (or another optimised one).
bool blas_is_reference();
// Prints a warning to stderr once if the BLAS is the reference one.
void warn_if_reference_blas();

// If OpenBLAS picked a generic kernel on a CPU with AVX-512 or AVX2, and the
// user has not set OPENBLAS_CORETYPE, sets it and re-executes the program
// (once; LOOM_NO_BLAS_REEXEC=1 turns this off). Returns normally otherwise.
void ensure_optimised_blas(int argc, char** argv);

// Sets OpenBLAS's thread count (no-op without OpenBLAS); returns the old one.
int set_blas_threads(int threads);
int get_blas_threads();

// RAII: BLAS single-threaded inside a scope that parallelises by itself.
class ScopedSingleThreadedBlas {
 public:
  ScopedSingleThreadedBlas() : previous_(set_blas_threads(1)) {}
  ~ScopedSingleThreadedBlas() { set_blas_threads(previous_); }
  ScopedSingleThreadedBlas(const ScopedSingleThreadedBlas&) = delete;
  ScopedSingleThreadedBlas& operator=(const ScopedSingleThreadedBlas&) = delete;

 private:
  int previous_;
};

// Peak resident memory of this process so far, in KiB (getrusage).
int64_t peak_rss_kb();

}  // namespace loom
