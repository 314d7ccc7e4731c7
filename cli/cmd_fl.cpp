// loom fl simulate|serve|join|certs: robust federated learning (docs/fl.md).
// serve and join run the simulation's Fashion-MNIST experiment over the
// network: this file builds the model and the parties' data, and hands them
// to the transport (fl/net.h), which knows neither.
#include <ATen/CPUGeneratorImpl.h>

#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/fl/certs.h"
#include "loom/fl/net.h"
#include "loom/fl/simulate.h"
#include "loom/tensor/threads.h"

namespace loom::cli {
namespace {

// Which party's data shard a `loom fl join` process holds.
struct Shard {
  int64_t party_index = 0;
};

const ParamSchema<Shard>& shard_schema() {
  static const ParamSchema<Shard> schema = [] {
    ParamSchema<Shard> s;
    s.add("party_index", &Shard::party_index, "join: which party's data shard this process holds (0..parties-1)",
          {0, 1e9});
    return s;
  }();
  return schema;
}

// The simulation's keys, the transport's, and the shard: serve and join read
// one list, so one file can configure both.
std::vector<ParamSpec> network_role_specs() {
  std::vector<ParamSpec> specs = fl::simulation_param_specs();
  for (auto& s : fl::network_param_specs()) specs.push_back(s);
  for (auto& s : shard_schema().specs()) specs.push_back(s);
  return specs;
}

void setup_simulate(CLI::App* sub) {
  auto out = std::make_shared<std::string>();
  sub->add_option("--out", *out, "directory for results.json");
  run_with_params(sub, fl::simulation_param_specs(), [out](const Params& p) {
    if (out->empty()) throw Error("--out is required");
    auto options = fl::SimulationOptions::from_params(p);
    warn_if_reference_blas();
    set_compute_threads(static_cast<int>(options.threads));
    auto results = fl::simulate(options, *out);
    std::cout << nlohmann::json({{"final_accuracy", results["final_accuracy"]}}).dump() << "\n";
  });
}

void run_serve(const Params& p) {
  const auto sim = fl::SimulationOptions::from_params(p);
  const auto net = fl::network_schema().read(p);
  set_compute_threads(static_cast<int>(sim.threads));
  auto model = std::make_shared<fl::FlatModel>(sim.model_layers(), sim.seed);
  fl::ServedModel served{model->initial(), model->layer_sizes(), {}};
  try {
    auto test = std::make_shared<fl::LabelledData>(fl::load_fashion_mnist(sim.data_dir, false));
    served.evaluate = [model, test](const torch::Tensor& global) { return model->accuracy(global, *test); };
  } catch (const Error& e) {
    std::cerr << "loom fl serve: no test accuracy (" << e.what() << ")\n";
  }
  fl::serve(net, sim.rounds, served, fl::make_aggregator(net.aggregator, p, "aggregator"));
}

void run_join(const Params& p) {
  const auto sim = fl::SimulationOptions::from_params(p);
  const auto net = fl::network_schema().read(p);
  const int64_t index = shard_schema().read(p).party_index;
  if (index >= sim.parties)
    throw Error("party_index " + std::to_string(index) + " is outside 0.." + std::to_string(sim.parties - 1));
  set_compute_threads(static_cast<int>(sim.threads));
  fl::Party party = fl::make_parties(sim, fl::load_fashion_mnist(sim.data_dir, true))[static_cast<size_t>(index)];
  fl::FlatModel model(sim.model_layers(), sim.seed);
  auto corruption = sim.make_corruption();
  auto generator = at::detail::createCPUGenerator(sim.seed + 7 + static_cast<uint64_t>(index));
  const fl::LocalTraining training = sim.local_training();
  fl::PartyWork work;
  work.party_id = party.id;
  work.model_size = model.size();
  work.sample_count = static_cast<double>(party.data.inputs.size(0));
  work.update = [&](const torch::Tensor& global, int64_t round) {
    torch::Tensor update =
        model.local_update(global, party.data, training, static_cast<uint64_t>(round), static_cast<uint64_t>(index));
    // A bad party acts alone over the network: colluding uses its own update.
    return party.bad ? corruption->update(update, {}, generator) : update;
  };
  fl::join(net, work);
}

void setup_network_role(CLI::App* sub, void (*run)(const Params&)) { run_with_params(sub, network_role_specs(), run); }

void setup_certs(CLI::App* sub) {
  struct Args {
    std::string out, hosts = "localhost,127.0.0.1";
    int parties = 3;
    bool client_certs = false;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--out", a->out, "directory for ca.pem, server.pem/.key, tokens.yaml, party-k.yaml")->required();
  sub->add_option("--parties", a->parties, "number of party tokens")->capture_default_str();
  sub->add_option("--hosts", a->hosts, "server names and addresses (the certificate's SANs), comma-separated")
      ->capture_default_str();
  sub->add_flag("--client-certs", a->client_certs, "also a certificate per party (party-k.pem/.key), for auth: mtls");
  sub->callback([a] {
    fl::write_test_certificates(a->out, {a->parties, split_list(a->hosts), a->client_certs});
    std::cout << "wrote a test CA, a server certificate" << (a->client_certs ? ", party certificates" : "") << " and "
              << a->parties << " party tokens to " << a->out << "\n";
  });
}

}  // namespace

void setup_fl(CLI::App* sub) {
  sub->require_subcommand(1);
  setup_simulate(sub->add_subcommand("simulate", "parties, corruptions and aggregators in one process"));
  setup_network_role(sub->add_subcommand("serve", "the aggregation server (gRPC, TLS, per-party tokens)"), run_serve);
  setup_network_role(sub->add_subcommand("join", "one party: fetch the model, train locally, send the update"),
                     run_join);
  setup_certs(sub->add_subcommand("certs", "a test CA, server certificate, party tokens (and certificates)"));
}

}  // namespace loom::cli
