// Data-parallel communication over LibTorch's c10d ProcessGroupGloo, with
// rendezvous through a TCPStore on the master (rank 0). Gloo stays out of this
// header; a world of size 1 needs no network at all.
//
//   loom::DistOptions opts{.rank = 0, .world_size = 2, .master_addr = "127.0.0.1", .master_port = 29512};
//   auto comm = loom::Communicator::create(opts);
//   comm->all_reduce_sum(grads);
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace loom {

struct DistOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string interface;  // network interface for Gloo (e.g. eth0); "" = automatic
  int timeout_s = 300;
};

class Communicator {
 public:
  static std::unique_ptr<Communicator> create(const DistOptions& options);
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sums the tensors element-wise across ranks, in place (one flattened buffer).
  virtual void all_reduce_sum(const std::vector<torch::Tensor>& tensors) = 0;
  // Copies rank 0's values into every rank's tensors.
  virtual void broadcast_from_root(const std::vector<torch::Tensor>& tensors) = 0;
  virtual void barrier() = 0;
};

// Launches `world_size` copies of this executable with the given arguments
// plus --rank/--world-size, waits for them, and returns the first non-zero
// exit code (killing the others) or 0.
int launch_local_workers(const std::vector<std::string>& args, int world_size, int master_port);

}  // namespace loom
