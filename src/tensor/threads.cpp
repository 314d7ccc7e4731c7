#include "loom/tensor/threads.h"

#include <sched.h>
#include <torch/torch.h>

#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"

namespace loom {

int set_compute_threads(int threads) {
  if (threads > kMaxComputeThreads)
    throw Error("threads: " + std::to_string(threads) + " is more than " + std::to_string(kMaxComputeThreads) +
                " (0 = all cores)");
  if (threads <= 0) {
    cpu_set_t set;
    threads = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  torch::set_num_threads(threads);
  set_blas_threads(threads);
  return threads;
}

}  // namespace loom
