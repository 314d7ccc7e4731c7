#include "loom/tensor/threads.h"

#include <sched.h>
#include <torch/torch.h>

#include "loom/core/cpu_setup.h"

namespace loom {

int set_compute_threads(int threads) {
  if (threads <= 0) {
    cpu_set_t set;
    threads = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  torch::set_num_threads(threads);
  set_blas_threads(threads);
  return threads;
}

}  // namespace loom
