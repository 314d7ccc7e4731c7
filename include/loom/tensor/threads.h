// One thread setting for both of LibTorch's pools and OpenBLAS's, which
// LibTorch does not set. Debian's LibTorch defaults to 1 thread on some
// virtual machines, so loom sets it explicitly.
#pragma once

namespace loom {

// More compute threads than any machine loom runs on has cores; a larger
// setting is a typo (threads: 100000 would start that many threads).
constexpr int kMaxComputeThreads = 1024;

// threads <= 0 means every CPU the process may run on. Returns the count set.
// More than kMaxComputeThreads is a loom::Error.
int set_compute_threads(int threads);

}  // namespace loom
