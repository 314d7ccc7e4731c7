// The two ways agents see each other's numbers: all agents in one process,
// or one agent per process over the dist communicator (Gloo send/recv and
// all-gather, each bounded by the communicator's timeout, so that a crashed
// or silent neighbour is a loom::Error naming it rather than a hang).
#include <torch/torch.h>

#include <algorithm>

#include "loom/core/error.h"
#include "loom/dist/communicator.h"
#include "loom/rl/marl/marl.h"

namespace loom::rl::marl {
namespace {

class InProcessExchange : public Exchange {
 public:
  explicit InProcessExchange(int agents) : agents_(agents) {}
  std::vector<int> local_agents() const override {
    std::vector<int> ids(static_cast<size_t>(agents_));
    for (int i = 0; i < agents_; ++i) ids[static_cast<size_t>(i)] = i;
    return ids;
  }
  std::vector<std::vector<double>> gather(const std::vector<std::vector<double>>& local) override { return local; }
  std::vector<std::vector<double>> swap_with_neighbours(const Graph&,
                                                        const std::vector<std::vector<double>>& local) override {
    return local;
  }

 private:
  int agents_;
};

constexpr int kCriticTag = 15;

class ProcessExchange : public Exchange {
 public:
  explicit ProcessExchange(Communicator& comm) : comm_(comm) {}
  std::vector<int> local_agents() const override { return {comm_.rank()}; }

  std::vector<std::vector<double>> gather(const std::vector<std::vector<double>>& local) override {
    check_one(local);
    std::vector<torch::Tensor> parts;
    try {
      parts = comm_.all_gather(torch::tensor(local[0], torch::kDouble));
    } catch (const std::exception& e) {
      // The communicator's all-gather names no peer; say what failed and why it may have.
      throw Error("marl: agent " + std::to_string(comm_.rank()) +
                  ": the all-gather of the agents' actions failed (an agent crashed or did not answer within "
                  "dist_timeout_s): " +
                  e.what());
    }
    std::vector<std::vector<double>> out;
    for (auto& p : parts) {
      auto c = p.contiguous();
      out.emplace_back(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    }
    return out;
  }

  // Edges in one global order (i < j, lexicographic); on edge (i, j) the
  // lower rank sends first. Every process walks its own edges in that order,
  // so the smallest pending edge always has both ends waiting on it: no
  // cycle of blocked sends.
  std::vector<std::vector<double>> swap_with_neighbours(const Graph& graph,
                                                        const std::vector<std::vector<double>>& local) override {
    check_one(local);
    const int me = comm_.rank();
    std::vector<std::vector<double>> out(static_cast<size_t>(graph.n));
    out[static_cast<size_t>(me)] = local[0];
    auto mine = torch::tensor(local[0], torch::kDouble);
    for (int j : graph.neighbours[static_cast<size_t>(me)]) {
      auto theirs = torch::empty_like(mine);
      if (me < j) {
        comm_.send(mine, j, kCriticTag);
        comm_.recv(theirs, j, kCriticTag);
      } else {
        comm_.recv(theirs, j, kCriticTag);
        comm_.send(mine, j, kCriticTag);
      }
      out[static_cast<size_t>(j)].assign(theirs.data_ptr<double>(), theirs.data_ptr<double>() + theirs.numel());
    }
    return out;
  }

 private:
  static void check_one(const std::vector<std::vector<double>>& local) {
    if (local.size() != 1) throw Error("marl: a process exchange carries one agent per process");
  }
  Communicator& comm_;
};

}  // namespace

std::unique_ptr<Exchange> make_in_process_exchange(int agents) { return std::make_unique<InProcessExchange>(agents); }
std::unique_ptr<Exchange> make_process_exchange(Communicator& communicator) {
  return std::make_unique<ProcessExchange>(communicator);
}

}  // namespace loom::rl::marl
