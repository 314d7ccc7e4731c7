// Communication between processes over LibTorch's c10d ProcessGroupGloo,
// with rendezvous through a TCPStore on the master (rank 0): collectives for
// data parallelism (all-reduce, broadcast, all-gather) and point-to-point
// calls for decentralised methods (send/recv with a deadline, so a peer that
// died is an error, not a hang). Gloo stays out of this header; a world of
// size 1 needs no network at all.
//
//   loom::DistOptions opts;  opts.rank = 0; opts.world_size = 2; opts.master_port = 29512;
//   auto comm = loom::Communicator::create(opts);
//   comm->all_reduce_sum(grads);
//   comm->send(params, /*to=*/1, /*tag=*/7);
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"

namespace loom {

struct DistOptions {
  int nproc = 1;  // processes to launch on this machine (local data parallelism)
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  // 0: a free port, for processes launched on one machine; multi-host runs
  // must name one.
  int master_port = 0;
  std::string interface;  // network interface for Gloo (e.g. eth0); "" = automatic
  int timeout_s = 300;
};
const ParamSchema<DistOptions>& dist_options_schema();

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
  // Every rank's `tensor` (same shape on all ranks), in rank order.
  virtual std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor) = 0;
  // Point-to-point: blocks until `peer` has received (send) or until the
  // tensor from `peer` with this tag has arrived into `tensor` (recv, same
  // shape and dtype as sent). Both throw loom::Error after timeout_s.
  virtual void send(const torch::Tensor& tensor, int peer, int tag) = 0;
  virtual void recv(torch::Tensor& tensor, int peer, int tag) = 0;
};

// Launches `world_size` copies of this executable with the given arguments
// plus --rank/--world-size/--master-port (master_port 0: a free one, so two
// runs on one machine do not collide), waits for them, and returns the
// first non-zero exit code (killing the others) or 0.
int launch_local_workers(const std::vector<std::string>& args, int world_size, int master_port);
// A TCP port on 127.0.0.1 that nothing listens on now (torchrun's standalone way).
int free_local_port();

}  // namespace loom
