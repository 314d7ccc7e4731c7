// Federated-learning simulation in one process: Fashion-MNIST from Debian's
// dataset-fashion-mnist split over K parties with Dirichlet(α) label
// proportions, a share of them corrupted, and each aggregator run on its own
// trajectory from the same start, parties and data order.
//
// Corruptions (applied to the bad parties):
//   label_flip      trains on labels y -> 9 - y
//   random_labels   trains on uniformly random labels
//   gaussian        sends N(0, (scale · ‖u‖/√d)²) noise instead of its update
//   sign_flip       sends -scale · u
//   scaled          sends scale · u
//   free_rider      sends a zero update but claims its sample count
//   colluding       all bad parties send the same vector: -scale x their mean update
//
//   loom::Params p(loom::fl::simulation_param_specs());
//   p.load_yaml_file("configs/fl-quick.yaml");
//   auto results = loom::fl::simulate(loom::fl::SimulationOptions::from_params(p), "runs/fl");
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/params.h"
#include "loom/fl/aggregate.h"

namespace loom::fl {

enum class Corruption { None, LabelFlip, RandomLabels, Gaussian, SignFlip, Scaled, FreeRider, Colluding };
Corruption corruption_from_name(const std::string& name, const std::string& origin);
const std::vector<std::string>& corruption_names();

struct SimulationOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t parties = 10;
  int64_t rounds = 20;
  std::vector<std::string> aggregators = {"fedavg", "median", "bayes"};
  Corruption corruption = Corruption::LabelFlip;
  double bad_fraction = 0.3;
  double corruption_scale = 3.0;
  double dirichlet_alpha = 0.5;
  int64_t samples_per_party = 0;  // 0 = the whole split
  int64_t local_epochs = 1;
  int64_t batch_size = 32;
  double local_lr = 0.05;
  int64_t hidden = 128;
  uint64_t seed = 0;
  AggregatorOptions aggregator;

  static SimulationOptions from_params(const Params& p);
};
std::vector<ParamSpec> simulation_param_specs();

// Images scaled to [0, 1] as [N, 784] float, labels [N] int64.
struct LabelledImages {
  torch::Tensor images, labels;
};
LabelledImages load_fashion_mnist(const std::string& dir, bool train);

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
  torch::Tensor images, labels;
  bool bad = false;
};
// The K parties of a run (split, caps, bad set, label corruption), the same
// in the simulation and for `loom fl join --party-index k`.
std::vector<Party> make_parties(const SimulationOptions& options, const LabelledImages& train);

// The model every party and the server share (an MLP 784-hidden-10), handled
// as one flat parameter vector.
class FlatModel {
 public:
  FlatModel(int64_t hidden, uint64_t seed);
  const torch::Tensor& initial() const { return initial_; }
  const std::vector<int64_t>& layer_sizes() const { return layer_sizes_; }
  // Local SGD from `global` over the party's data; returns local - global.
  torch::Tensor local_update(const torch::Tensor& global, const Party& party, const SimulationOptions& options,
                             uint64_t round, size_t party_index);
  double accuracy(const torch::Tensor& global, const LabelledImages& test);

 private:
  torch::nn::Sequential net_;
  torch::Tensor initial_;
  std::vector<int64_t> layer_sizes_;
};

// Model-poisoning corruptions of a bad party's honest update (`bad_mean` is the
// bad parties' mean update, for colluding).
torch::Tensor corrupt_update(const torch::Tensor& update, Corruption corruption, double scale,
                             const torch::Tensor& bad_mean, at::Generator& generator);

// Runs every aggregator; writes OUT/results.json and returns it.
nlohmann::json simulate(const SimulationOptions& options, const std::string& out_dir);

}  // namespace loom::fl
