// loom fl simulate|serve|join|certs: robust federated learning (docs/fl.md).
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/fl/net.h"
#include "loom/fl/simulate.h"
#include "loom/tensor/threads.h"

namespace loom::cli {
namespace {

void setup_simulate(CLI::App* sub) {
  auto out = std::make_shared<std::string>();
  auto flags = std::make_shared<ParamFlags>(sub, fl::simulation_param_specs());
  sub->add_option("--out", *out, "directory for results.json");
  sub->callback([out, flags] {
    Params p = flags->resolve();
    if (flags->dump_requested()) {
      std::cout << p.dump_yaml();
      return;
    }
    if (out->empty()) throw Error("--out is required");
    warn_if_reference_blas();
    set_compute_threads(static_cast<int>(p.get_int("threads")));
    auto results = fl::simulate(fl::SimulationOptions::from_params(p), *out);
    std::cout << nlohmann::json({{"final_accuracy", results["final_accuracy"]}}).dump() << "\n";
  });
}

// serve and join share one parameter list (and may share one config file).
void setup_network_role(CLI::App* sub, void (*run)(const Params&)) {
  auto flags = std::make_shared<ParamFlags>(sub, fl::network_param_specs());
  sub->callback([flags, run] {
    Params p = flags->resolve();
    if (flags->dump_requested()) {
      std::cout << p.dump_yaml();
      return;
    }
    set_compute_threads(static_cast<int>(p.get_int("threads")));
    run(p);
  });
}

void setup_certs(CLI::App* sub) {
  struct Args {
    std::string out, hosts = "localhost,127.0.0.1";
    int parties = 3;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--out", a->out, "directory for ca.pem, server.pem/.key, tokens.yaml, party-k.yaml")->required();
  sub->add_option("--parties", a->parties, "number of party tokens")->capture_default_str();
  sub->add_option("--hosts", a->hosts, "server names and addresses, comma-separated")->capture_default_str();
  sub->callback([a] {
    fl::write_test_certificates(a->out, a->parties, split_list(a->hosts));
    std::cout << "wrote a test CA, a server certificate and " << a->parties << " party tokens to " << a->out << "\n";
  });
}

}  // namespace

void setup_fl(CLI::App* sub) {
  sub->require_subcommand(1);
  setup_simulate(sub->add_subcommand("simulate", "parties, corruptions and aggregators in one process"));
  setup_network_role(sub->add_subcommand("serve", "the aggregation server (gRPC, TLS, per-party tokens)"), fl::serve);
  setup_network_role(sub->add_subcommand("join", "one party: fetch the model, train locally, send the update"),
                     fl::join);
  setup_certs(sub->add_subcommand("certs", "a test CA, server certificate and party tokens (openssl)"));
}

}  // namespace loom::cli
