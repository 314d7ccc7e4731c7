// Federated-learning simulation in one process: Fashion-MNIST from Debian's
// dataset-fashion-mnist split over K parties with Dirichlet(α) label
// proportions, a seeded share of them corrupted (fl/corruption.h), and each
// aggregator (fl/aggregate.h) run on its own trajectory from the same start,
// parties and data order. The model is an MLP 784-hidden-10 (fl/flat_model.h).
//
//   loom::Params p(loom::fl::simulation_param_specs());
//   p.load_yaml_file("configs/fl-quick.yaml");
//   auto results = loom::fl::simulate(loom::fl::SimulationOptions::from_params(p), "runs/fl");
#pragma once
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/core/params.h"
#include "loom/fl/aggregate.h"
#include "loom/fl/corruption.h"
#include "loom/fl/flat_model.h"

namespace loom::fl {

struct SimulationOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t parties = 10;
  int64_t rounds = 20;
  std::vector<std::string> aggregators = {"fedavg", "median", "bayes"};
  std::string corruption = "label_flip";
  double bad_fraction = 0.3;
  double dirichlet_alpha = 0.5;
  int64_t samples_per_party = 0;  // 0 = the whole split
  int64_t local_epochs = 1;
  int64_t batch_size = 32;
  double local_lr = 0.05;
  int64_t hidden = 128;
  uint64_t seed = 0;
  int64_t threads = 1;
  // Examples the server holds for aggregators that need a reference set
  // (fltrust): drawn from training examples no party holds.
  int64_t server_reference = 100;
  // The aggregators' and the corruption's own parameters (trim_beta,
  // corruption_scale, ...); null = their defaults.
  std::shared_ptr<const Params> method_params;

  // Reads and checks the options, the aggregators' and the corruption's.
  static SimulationOptions from_params(const Params& p);
  // The model and the local training these options describe.
  MlpOptions model_layers() const { return MlpOptions{{784, hidden, 10}}; }
  LocalTraining local_training() const { return {local_epochs, batch_size, local_lr, seed}; }
  std::unique_ptr<Aggregator> make_aggregator(const std::string& name) const;
  std::unique_ptr<Corruption> make_corruption() const;
};
const ParamSchema<SimulationOptions>& simulation_schema();
// The simulation's keys, then every aggregator's and corruption's.
std::vector<ParamSpec> simulation_param_specs();

// Images scaled to [0, 1] as [N, 784] float, labels [N] int64.
LabelledData load_fashion_mnist(const std::string& dir, bool train);

// Indices per party: for every class, Dirichlet(α) proportions over parties.
// Small α = strongly non-IID. Deterministic for a seed.
std::vector<std::vector<int64_t>> dirichlet_split(const std::vector<int64_t>& labels, int64_t parties, double alpha,
                                                  uint64_t seed);

// Precision/recall of "flagged" parties (weight below half the uniform 1/K)
// against the true bad set.
struct Detection {
  double precision = 0, recall = 0;
};
Detection detect_bad(const std::vector<double>& weights, const std::vector<bool>& is_bad);

// One party's local data, with its labels already corrupted when it trains on bad labels.
struct Party {
  std::string id;  // "party-k"
  LabelledData data;
  bool bad = false;
  std::vector<int64_t> indices;  // into the training set
};
// The K parties of a run (split, caps, bad set, label corruption), the same
// in the simulation and for `loom fl join --party-index k`.
std::vector<Party> make_parties(const SimulationOptions& options, const LabelledData& train);
// The server's reference set: options.server_reference training examples no
// party holds (seeded); an Error when too few are left.
LabelledData server_reference_set(const SimulationOptions& options, const LabelledData& train,
                                  const std::vector<Party>& parties);

// Runs every aggregator; writes OUT/results.json and returns it.
nlohmann::json simulate(const SimulationOptions& options, const std::string& out_dir);

}  // namespace loom::fl
