#define USE_C10D_GLOO 1
#include "loom/dist/communicator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "loom/core/error.h"

namespace loom {
namespace {

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(const std::vector<torch::Tensor>&) override {}
  void broadcast_from_root(const std::vector<torch::Tensor>&) override {}
  void barrier() override {}
  std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor) override { return {tensor.clone()}; }
  void send(const torch::Tensor&, int peer, int) override {
    throw Error("distributed: send to rank " + std::to_string(peer) + " in a world of size 1");
  }
  void recv(torch::Tensor&, int peer, int) override {
    throw Error("distributed: recv from rank " + std::to_string(peer) + " in a world of size 1");
  }
};

class GlooCommunicator : public Communicator {
 public:
  explicit GlooCommunicator(const DistOptions& o) : rank_(o.rank), world_(o.world_size), timeout_(o.timeout_s) {
    c10d::TCPStoreOptions store_opts;
    store_opts.port = static_cast<uint16_t>(o.master_port);
    store_opts.isServer = o.rank == 0;
    store_opts.numWorkers = o.world_size;
    store_opts.timeout = std::chrono::seconds(o.timeout_s);
    auto store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_opts);
    auto pg_opts = c10d::ProcessGroupGloo::Options::create(std::chrono::seconds(o.timeout_s));
    // Loopback masters mean a one-machine run; otherwise bind the interface the
    // user names, or the address this host's name resolves to.
    if (!o.interface.empty())
      pg_opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(o.interface));
    else if (o.master_addr == "127.0.0.1" || o.master_addr == "localhost")
      pg_opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      pg_opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    pg_opts->threads = 1;
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world_size, pg_opts);
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }

  void all_reduce_sum(const std::vector<torch::Tensor>& tensors) override {
    if (tensors.empty()) return;
    std::vector<torch::Tensor> flat{flatten(tensors)};
    group_->allreduce(flat)->wait();
    unflatten(flat[0], tensors);
  }
  void broadcast_from_root(const std::vector<torch::Tensor>& tensors) override {
    if (tensors.empty()) return;
    std::vector<torch::Tensor> flat{flatten(tensors)};
    group_->broadcast(flat)->wait();
    unflatten(flat[0], tensors);
  }
  void barrier() override { group_->barrier()->wait(); }

  std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor) override {
    std::vector<torch::Tensor> input{tensor.detach().contiguous()};
    std::vector<std::vector<torch::Tensor>> output(1);
    for (int r = 0; r < world_; ++r) output[0].push_back(torch::empty_like(input[0]));
    group_->allgather(output, input)->wait();
    return output[0];
  }

  void send(const torch::Tensor& tensor, int peer, int tag) override {
    check_peer(peer);
    std::vector<torch::Tensor> buffer{tensor.detach().contiguous()};
    wait_or_throw(group_->send(buffer, peer, tag), "send to", peer, tag);
  }

  void recv(torch::Tensor& tensor, int peer, int tag) override {
    check_peer(peer);
    std::vector<torch::Tensor> buffer{torch::empty_like(tensor).contiguous()};
    wait_or_throw(group_->recv(buffer, peer, tag), "receive from", peer, tag);
    torch::NoGradGuard no_grad;
    tensor.copy_(buffer[0]);
  }

 private:
  // One message per call: gradient tensors are many and small.
  static torch::Tensor flatten(const std::vector<torch::Tensor>& tensors) {
    std::vector<torch::Tensor> views;
    for (const auto& t : tensors) views.push_back(t.detach().reshape({-1}).to(torch::kFloat));
    return torch::cat(views);
  }
  static void unflatten(const torch::Tensor& flat, const std::vector<torch::Tensor>& tensors) {
    torch::NoGradGuard no_grad;
    int64_t offset = 0;
    for (const auto& t : tensors) {
      t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
  void check_peer(int peer) const {
    if (peer < 0 || peer >= world_ || peer == rank_)
      throw Error("distributed: rank " + std::to_string(rank_) + " cannot exchange with rank " + std::to_string(peer) +
                  " in a world of size " + std::to_string(world_));
  }
  void wait_or_throw(const c10::intrusive_ptr<c10d::Work>& work, const char* what, int peer, int tag) const {
    try {
      if (!work->wait(std::chrono::milliseconds(static_cast<int64_t>(timeout_) * 1000)))
        throw Error("distributed: rank " + std::to_string(rank_) + " could not " + what + " rank " +
                    std::to_string(peer) + " (tag " + std::to_string(tag) + ")");
    } catch (const Error&) {
      throw;
    } catch (const c10::Error& e) {
      throw Error("distributed: rank " + std::to_string(rank_) + " could not " + what + " rank " +
                  std::to_string(peer) + " within " + std::to_string(timeout_) + " s (tag " + std::to_string(tag) +
                  "): " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw Error("distributed: rank " + std::to_string(rank_) + " could not " + what + " rank " +
                  std::to_string(peer) + " within " + std::to_string(timeout_) + " s (tag " + std::to_string(tag) +
                  "): " + e.what());
    }
  }

  int rank_, world_, timeout_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

std::unique_ptr<Communicator> Communicator::create(const DistOptions& o) {
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size)
    throw Error("distributed: rank " + std::to_string(o.rank) + " is outside world size " +
                std::to_string(o.world_size));
  if (o.world_size == 1) return std::make_unique<LocalCommunicator>();
  if (o.master_port == 0)
    throw Error("distributed: a run of " + std::to_string(o.world_size) +
                " processes needs master_port (nproc on one machine picks one itself)");
  if (o.master_port < 0 || o.master_port > 65535)
    throw Error("distributed: master_port " + std::to_string(o.master_port) + " is not a valid port");
  try {
    return std::make_unique<GlooCommunicator>(o);
  } catch (const c10::Error& e) {
    throw Error("distributed: cannot join the process group at " + o.master_addr + ":" + std::to_string(o.master_port) +
                ": " + e.what_without_backtrace());
  }
}

const ParamSchema<DistOptions>& dist_options_schema() {
  using O = DistOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("nproc", &O::nproc, "data-parallel processes to launch on this machine", {1, 256})
        .add("rank", &O::rank, "this process's rank (multi-host runs)", {0, 65535})
        .add("world_size", &O::world_size, "total processes (multi-host runs)", {1, 65536})
        .add("master_addr", &O::master_addr, "address of rank 0 (TCPStore rendezvous)")
        .add("master_port", &O::master_port,
             "port of rank 0's TCPStore; 0 = a free port (one machine only: multi-host runs must name one)", {0, 65535})
        .add("interface", &O::interface, "network interface Gloo binds to (multi-host); empty = automatic")
        .add("dist_timeout_s", &O::timeout_s, "seconds a collective or exchange may wait for a peer", {1, 86400});
    return s;
  }();
  return schema;
}

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("distributed: cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) throw Error("distributed: cannot find a free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

int launch_local_workers(const std::vector<std::string>& args, int world_size, int master_port) {
  if (master_port == 0) master_port = free_local_port();
  std::vector<pid_t> children;
  for (int rank = 0; rank < world_size; ++rank) {
    std::vector<std::string> argv = args;
    argv.insert(argv.end(), {"--rank", std::to_string(rank), "--world-size", std::to_string(world_size),
                             "--master-port", std::to_string(master_port), "--nproc", "1"});
    pid_t pid = fork();
    if (pid < 0) throw Error("distributed: fork failed");
    if (pid == 0) {
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv("/proc/self/exe", cargv.data());
      _exit(127);
    }
    children.push_back(pid);
  }
  int result = 0;
  for (size_t done = 0; done < children.size(); ++done) {
    int status = 0;
    pid_t pid = wait(&status);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (code != 0 && result == 0) {
      result = code;
      for (pid_t other : children)
        if (other != pid) kill(other, SIGTERM);
    }
  }
  return result;
}

}  // namespace loom
