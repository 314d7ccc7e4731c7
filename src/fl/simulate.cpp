#include "loom/fl/simulate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <random>

#include "loom/core/atomic_file.h"
#include "loom/core/dataset.h"
#include "loom/core/error.h"
#include "loom/core/idx.h"

namespace loom::fl {

const ParamSchema<SimulationOptions>& simulation_schema() {
  using O = SimulationOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("data_dir", &O::data_dir, "Fashion-MNIST IDX files (dataset-fashion-mnist)")
        .add("parties", &O::parties, "number of parties K", {1, 10000})
        .add("rounds", &O::rounds, "federated rounds", {1, 1e6})
        .add("aggregators", &O::aggregators, "aggregators to compare, comma-separated: " + aggregators().valid_names())
        .add("corruption", &O::corruption, "what bad parties do: " + corruptions().valid_names())
        .one_of(corruptions().names())
        .add("bad_fraction", &O::bad_fraction, "share of parties that are bad (below 1)", {0, 1})
        .add("dirichlet_alpha", &O::dirichlet_alpha,
             "Dirichlet concentration of the label split; large = IID, small = non-IID", {0, 1e9})
        .add("samples_per_party", &O::samples_per_party, "cap on each party's training examples; 0 = all it is dealt",
             {0, 1e9})
        .add("local_epochs", &O::local_epochs, "passes over its data a party makes per round", {1, 1e6})
        .add("batch_size", &O::batch_size, "local SGD mini-batch", {1, 1e7})
        .add("local_lr", &O::local_lr, "local SGD learning rate", {0, 1e3})
        .add("hidden", &O::hidden, "hidden units of the MLP (784-hidden-10)", {1, 1e6})
        .add("seed", &O::seed, "seed of the split, the bad set, initialisation and data order", {0, 1e15})
        .add("threads", &O::threads, "compute threads; 0 = every CPU", {0, 1024})
        .add("server_reference", &O::server_reference,
             "fltrust: training examples the server holds as its clean reference set (none of any party's)", {1, 1e7});
    return s;
  }();
  return schema;
}

std::vector<ParamSpec> simulation_param_specs() {
  std::vector<ParamSpec> specs = simulation_schema().specs();
  for (auto& s : aggregator_param_specs()) specs.push_back(s);
  for (auto& s : corruption_param_specs()) specs.push_back(s);
  return specs;
}

SimulationOptions SimulationOptions::from_params(const Params& p) {
  SimulationOptions o = simulation_schema().read(p);
  o.method_params = std::make_shared<Params>(p);
  if (o.aggregators.empty()) throw Error("aggregators is empty");
  // Unknown names and bad parameters fail here, listing the valid names.
  for (const auto& a : o.aggregators) o.make_aggregator(a);
  o.make_corruption();
  if (!(o.bad_fraction < 1)) throw Error("bad_fraction must lie in [0, 1)");
  if (!(o.dirichlet_alpha > 0)) throw Error("dirichlet_alpha must be positive");
  return o;
}

std::unique_ptr<Aggregator> SimulationOptions::make_aggregator(const std::string& name) const {
  return method_params ? fl::make_aggregator(name, *method_params, "aggregators") : fl::make_aggregator(name);
}

std::unique_ptr<Corruption> SimulationOptions::make_corruption() const {
  return method_params ? fl::make_corruption(corruption, *method_params, "corruption")
                       : fl::make_corruption(corruption);
}

LabelledData load_fashion_mnist(const std::string& dir, bool train) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  IdxArray images = read_idx(prefix + "-images-idx3-ubyte.gz");
  IdxArray labels = read_idx(prefix + "-labels-idx1-ubyte.gz");
  if (images.shape.size() != 3 || images.item_size() != 784)
    throw Error(prefix + "-images-idx3-ubyte.gz: expected [N, 28, 28] images");
  if (labels.shape.size() != 1 || labels.count() != images.count())
    throw Error(prefix + "-labels-idx1-ubyte.gz: expected one label per image (" + std::to_string(images.count()) +
                ")");
  for (uint8_t y : labels.data)
    if (y > 9) throw Error(prefix + "-labels-idx1-ubyte.gz: label " + std::to_string(y) + " outside 0..9");
  const auto n = static_cast<int64_t>(images.count());
  LabelledData out;
  out.inputs = torch::from_blob(images.data.data(), {n, 784}, torch::kUInt8).to(torch::kFloat) / 255.0;
  out.labels = torch::from_blob(labels.data.data(), {n}, torch::kUInt8).to(torch::kLong);
  return out;
}

std::vector<std::vector<int64_t>> dirichlet_split(const std::vector<int64_t>& labels, int64_t parties, double alpha,
                                                  uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 17);
  std::gamma_distribution<double> gamma(alpha, 1.0);
  std::vector<std::vector<int64_t>> by_class(10), out(static_cast<size_t>(parties));
  for (size_t i = 0; i < labels.size(); ++i)
    by_class[static_cast<size_t>(labels[i])].push_back(static_cast<int64_t>(i));
  for (auto& members : by_class) {
    auto order = shuffled_indices(members.size(), seed, 0xC1A55);
    std::vector<double> p(static_cast<size_t>(parties));
    double total = 0;
    for (auto& x : p) total += (x = gamma(rng) + 1e-12);
    size_t start = 0;
    double cumulative = 0;
    for (size_t k = 0; k < p.size(); ++k) {
      cumulative += p[k] / total;
      const size_t end =
          k + 1 == p.size() ? members.size() : static_cast<size_t>(cumulative * static_cast<double>(members.size()));
      for (size_t i = start; i < std::max(start, end); ++i) out[k].push_back(members[order[i]]);
      start = std::max(start, end);
    }
  }
  return out;
}

Detection detect_bad(const std::vector<double>& weights, const std::vector<bool>& is_bad) {
  const double threshold = 0.5 / static_cast<double>(weights.size());
  int flagged = 0, true_flagged = 0, bad = 0;
  for (size_t k = 0; k < weights.size(); ++k) {
    const bool f = weights[k] < threshold;
    flagged += f;
    bad += is_bad[k];
    true_flagged += f && is_bad[k];
  }
  Detection d;
  d.precision = flagged ? static_cast<double>(true_flagged) / flagged : (bad == 0 ? 1.0 : 0.0);
  d.recall = bad ? static_cast<double>(true_flagged) / bad : 1.0;
  return d;
}

std::vector<Party> make_parties(const SimulationOptions& o, const LabelledData& train) {
  std::vector<int64_t> labels(train.labels.data_ptr<int64_t>(),
                              train.labels.data_ptr<int64_t>() + train.labels.numel());
  auto split = dirichlet_split(labels, o.parties, o.dirichlet_alpha, o.seed);
  // The bad set: a seeded choice of round(bad_fraction * K) parties.
  auto corruption = o.make_corruption();
  const auto n_bad = corruption->makes_parties_bad()
                         ? static_cast<size_t>(std::lround(o.bad_fraction * static_cast<double>(o.parties)))
                         : size_t{0};
  auto order = shuffled_indices(static_cast<size_t>(o.parties), o.seed, 0xBAD);
  std::vector<Party> parties(static_cast<size_t>(o.parties));
  auto gen = at::detail::createCPUGenerator(o.seed + 99);
  for (size_t i = 0; i < n_bad; ++i) parties[order[i]].bad = true;
  for (size_t k = 0; k < parties.size(); ++k) {
    auto& p = parties[k];
    p.id = "party-" + std::to_string(k);
    // The split lists a party's examples class by class: shuffle before capping,
    // or a cap would keep only the first classes.
    std::vector<int64_t> idx;
    for (size_t i : shuffled_indices(split[k].size(), o.seed, 0x5A + k)) idx.push_back(split[k][i]);
    if (o.samples_per_party > 0 && static_cast<int64_t>(idx.size()) > o.samples_per_party)
      idx.resize(static_cast<size_t>(o.samples_per_party));
    if (idx.empty()) idx.push_back(static_cast<int64_t>(k));  // a Dirichlet draw can leave a party empty
    p.indices = idx;
    auto t = torch::tensor(idx);
    p.data.inputs = train.inputs.index_select(0, t);
    p.data.labels = train.labels.index_select(0, t).clone();
    if (p.bad) p.data.labels = corruption->labels(p.data.labels, gen);
  }
  return parties;
}

LabelledData server_reference_set(const SimulationOptions& o, const LabelledData& train,
                                  const std::vector<Party>& parties) {
  const auto n = static_cast<size_t>(train.labels.size(0));
  std::vector<bool> held(n, false);
  for (const auto& p : parties)
    for (int64_t i : p.indices) held[static_cast<size_t>(i)] = true;
  std::vector<int64_t> idx;
  for (size_t i : shuffled_indices(n, o.seed, 0x5E7))
    if (!held[i] && static_cast<int64_t>(idx.size()) < o.server_reference) idx.push_back(static_cast<int64_t>(i));
  if (static_cast<int64_t>(idx.size()) < o.server_reference)
    throw Error("server_reference: only " + std::to_string(idx.size()) +
                " training examples are held by no party (set samples_per_party lower)");
  auto t = torch::tensor(idx);
  return {train.inputs.index_select(0, t), train.labels.index_select(0, t)};
}

nlohmann::json simulate(const SimulationOptions& o, const std::string& out_dir) {
  const auto start_time = std::chrono::steady_clock::now();
  LabelledData train = load_fashion_mnist(o.data_dir, true), test = load_fashion_mnist(o.data_dir, false);
  std::vector<Party> parties = make_parties(o, train);
  std::vector<bool> is_bad;
  std::vector<double> counts;
  std::vector<std::string> ids;
  size_t n_bad = 0;
  for (const auto& p : parties) {
    is_bad.push_back(p.bad);
    n_bad += p.bad;
    counts.push_back(static_cast<double>(p.data.inputs.size(0)));
    ids.push_back(p.id);
  }
  FlatModel model(o.model_layers(), o.seed);
  auto corruption = o.make_corruption();
  const LocalTraining training = o.local_training();

  LabelledData reference;
  for (const auto& name : o.aggregators)
    if (o.make_aggregator(name)->needs_reference() && !reference.inputs.defined())
      reference = server_reference_set(o, train, parties);

  nlohmann::json per_aggregator = nlohmann::json::object(), final_accuracy = nlohmann::json::object();
  for (const auto& name : o.aggregators) {
    auto aggregator = o.make_aggregator(name);
    torch::Tensor global = model.initial().clone();
    nlohmann::json acc = nlohmann::json::array(), weights = nlohmann::json::array(), det = nlohmann::json::array();
    auto noise_gen = at::detail::createCPUGenerator(o.seed + 7);
    for (int64_t round = 0; round < o.rounds; ++round) {
      std::vector<torch::Tensor> updates;
      for (size_t k = 0; k < parties.size(); ++k)
        updates.push_back(model.local_update(global, parties[k].data, training, static_cast<uint64_t>(round), k));
      torch::Tensor bad_mean;
      if (n_bad > 0) {
        bad_mean = torch::zeros_like(global);
        for (size_t k = 0; k < parties.size(); ++k)
          if (is_bad[k]) bad_mean += updates[k] / static_cast<double>(n_bad);
      }
      for (size_t k = 0; k < parties.size(); ++k)
        if (is_bad[k]) updates[k] = corruption->update(updates[k], bad_mean, noise_gen);
      RoundUpdates r{torch::stack(updates), counts, model.layer_sizes(), ids, {}, {}};
      // The server's own step on its reference set, as a party after the K others.
      if (aggregator->needs_reference()) {
        r.reference = model.local_update(global, reference, training, static_cast<uint64_t>(round), parties.size());
        r.reference_loss = [&](const torch::Tensor& update) { return model.loss(global + update, reference); };
      }
      Aggregate a = aggregator->aggregate(r);
      global = global + a.update;
      acc.push_back(model.accuracy(global, test));
      weights.push_back(a.weights);
      Detection d = detect_bad(a.weights, is_bad);
      det.push_back({{"precision", d.precision}, {"recall", d.recall}});
    }
    std::cerr << "loom fl: " << name << " accuracy after " << o.rounds << " rounds: " << acc.back().get<double>()
              << "\n";
    per_aggregator[name] = {{"accuracy", acc}, {"weights", weights}, {"detection", det}};
    final_accuracy[name] = acc.back();
  }
  std::vector<int> bad_list;
  for (size_t k = 0; k < is_bad.size(); ++k)
    if (is_bad[k]) bad_list.push_back(static_cast<int>(k));
  nlohmann::json results = {
      {"parties", o.parties},
      {"rounds", o.rounds},
      {"corruption", o.corruption},
      {"bad_fraction", o.bad_fraction},
      {"bad_parties", bad_list},
      {"dirichlet_alpha", o.dirichlet_alpha},
      {"seed", o.seed},
      {"samples_per_party", counts},
      {"aggregators", per_aggregator},
      {"final_accuracy", final_accuracy},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count()}};
  make_dirs(out_dir);
  write_file_atomic(out_dir + "/results.json", results.dump(2));
  return results;
}

}  // namespace loom::fl
