// One thread setting for both of LibTorch's pools and OpenBLAS's, which
// LibTorch does not set. Debian's LibTorch defaults to 1 thread on some
// virtual machines, so loom sets it explicitly.
#pragma once

namespace loom {

// threads <= 0 means every CPU the process may run on. Returns the count set.
int set_compute_threads(int threads);

}  // namespace loom
