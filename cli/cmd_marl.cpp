// loom marl: decentralised deterministic multi-agent actor-critic
// (docs/marl.md). All agents in this process, or --processes: one agent per
// process over the dist communicator (this program relaunched once per
// agent with --rank/--world-size/--master-port, or started by hand on
// several hosts with --master-addr and --interface).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/error.h"
#include "loom/dist/communicator.h"
#include "loom/rl/marl/marl.h"
#include "loom/tensor/threads.h"

namespace loom::cli {
namespace {

struct MarlCommandOptions {
  // Not an aggregate: GCC 12 at -O3 warns, wrongly, that S{} of the
  // aggregate leaves the nested strings uninitialised.
  MarlCommandOptions() {}
  rl::marl::MarlOptions marl;
  bool processes = false;
  DistOptions dist;
};

const ParamSchema<MarlCommandOptions>& marl_command_schema() {
  using O = MarlCommandOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.include<rl::marl::MarlOptions>(rl::marl::marl_options_schema(),
                                     [](O& o) -> rl::marl::MarlOptions& { return o.marl; })
        .add("processes", &O::processes, "one agent per process, exchanging critics over send/recv")
        .include<DistOptions>(dist_options_schema(), [](O& o) -> DistOptions& { return o.dist; });
    return s;
  }();
  return schema;
}

void print_summary(const rl::marl::MarlResult& r) {
  const auto& last = r.curve.back();
  std::cout << nlohmann::json({{"team_reward", last.team_reward},
                               {"distance", last.distance},
                               {"consensus_error", last.consensus_error},
                               {"seconds", r.seconds}})
                   .dump()
            << "\n";
}

void run_marl(const MarlCommandOptions& o) {
  rl::marl::validate_marl_options(o.marl);
  if (o.dist.nproc != 1)
    throw Error("marl: nproc " + std::to_string(o.dist.nproc) +
                " is not used here; --processes true runs one process per agent");
  set_compute_threads(o.marl.threads);
  if (!o.processes) {
    auto exchange = rl::marl::make_in_process_exchange(o.marl.env.agents);
    auto result = rl::marl::train_marl(o.marl, *exchange);
    if (!o.marl.out.empty()) rl::marl::write_marl_result(o.marl.out, o.marl, result);
    print_summary(result);
    return;
  }
  if (o.dist.world_size == 1) {
    const int code = launch_local_workers(program_args(), o.marl.env.agents, o.dist.master_port);
    if (code != 0) throw Error("marl: an agent process failed (exit code " + std::to_string(code) + "); see above");
    return;
  }
  if (o.dist.world_size != o.marl.env.agents)
    throw Error("marl: world_size " + std::to_string(o.dist.world_size) + " != agents " +
                std::to_string(o.marl.env.agents) + " (one agent per process)");
  auto comm = Communicator::create(o.dist);
  auto exchange = rl::marl::make_process_exchange(*comm);
  auto result = rl::marl::train_marl(o.marl, *exchange);
  if (comm->rank() == 0) {
    if (!o.marl.out.empty()) rl::marl::write_marl_result(o.marl.out, o.marl, result);
    print_summary(result);
  }
}

}  // namespace

void setup_marl(CLI::App* sub) { run_with_options<MarlCommandOptions>(sub, marl_command_schema(), run_marl); }

}  // namespace loom::cli
