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

const std::vector<std::string>& corruption_names() {
  static const std::vector<std::string> names = {"none",      "label_flip", "random_labels", "gaussian",
                                                 "sign_flip", "scaled",     "free_rider",    "colluding"};
  return names;
}

Corruption corruption_from_name(const std::string& name, const std::string& origin) {
  const auto& names = corruption_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<Corruption>(i);
  std::string valid;
  for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
  throw Error(origin + ": unknown corruption '" + name + "'; valid: " + valid);
}

std::vector<ParamSpec> simulation_param_specs() {
  using T = ParamType;
  std::string corruptions;
  for (const auto& n : corruption_names()) corruptions += (corruptions.empty() ? "" : ", ") + n;
  std::vector<ParamSpec> specs = {
      {"data_dir", T::String, "/usr/share/datasets/fashion-mnist", "Fashion-MNIST IDX files (dataset-fashion-mnist)"},
      {"parties", T::Int, "10", "number of parties K"},
      {"rounds", T::Int, "20", "federated rounds"},
      {"aggregators", T::String, "fedavg,median,bayes",
       "aggregators to compare, comma-separated: fedavg, median, trimmed_mean, krum, multi_krum, geomed, bayes, "
       "bayes_layer, bayes_carry, bayes_cf"},
      {"corruption", T::String, "label_flip", "what bad parties do: " + corruptions},
      {"bad_fraction", T::Float, "0.3", "share of parties that are bad"},
      {"corruption_scale", T::Float, "3",
       "gaussian: noise std as a multiple of ‖u‖/√d; sign_flip, scaled, colluding: factor"},
      {"dirichlet_alpha", T::Float, "0.5", "Dirichlet concentration of the label split; large = IID, small = non-IID"},
      {"samples_per_party", T::Int, "0", "cap on each party's training examples; 0 = all it is dealt"},
      {"local_epochs", T::Int, "1", "passes over its data a party makes per round"},
      {"batch_size", T::Int, "32", "local SGD mini-batch"},
      {"local_lr", T::Float, "0.05", "local SGD learning rate"},
      {"hidden", T::Int, "128", "hidden units of the MLP (784-hidden-10)"},
      {"seed", T::Int, "0", "seed of the split, the bad set, initialisation and data order"},
      {"threads", T::Int, "1", "compute threads"},
  };
  for (auto& s : aggregator_param_specs()) specs.push_back(s);
  return specs;
}

SimulationOptions SimulationOptions::from_params(const Params& p) {
  SimulationOptions o;
  o.data_dir = p.get_string("data_dir");
  o.parties = p.get_int("parties");
  o.rounds = p.get_int("rounds");
  o.aggregators = split_list(p.get_string("aggregators"));
  for (const auto& a : o.aggregators) make_aggregator(a, {});  // unknown names fail here, listing the valid ones
  o.corruption = corruption_from_name(p.get_string("corruption"), "corruption");
  o.bad_fraction = p.get_float("bad_fraction");
  o.corruption_scale = p.get_float("corruption_scale");
  o.dirichlet_alpha = p.get_float("dirichlet_alpha");
  o.samples_per_party = p.get_int("samples_per_party");
  o.local_epochs = p.get_int("local_epochs");
  o.batch_size = p.get_int("batch_size");
  o.local_lr = p.get_float("local_lr");
  o.hidden = p.get_int("hidden");
  o.seed = static_cast<uint64_t>(p.get_int("seed"));
  o.aggregator = aggregator_options_from_params(p);
  if (o.parties < 1) throw Error("parties must be at least 1");
  if (o.rounds < 1) throw Error("rounds must be at least 1");
  if (o.aggregators.empty()) throw Error("aggregators is empty");
  if (!(o.bad_fraction >= 0 && o.bad_fraction < 1)) throw Error("bad_fraction must lie in [0, 1)");
  if (!(o.dirichlet_alpha > 0)) throw Error("dirichlet_alpha must be positive");
  if (o.batch_size < 1 || o.local_epochs < 1 || o.hidden < 1)
    throw Error("batch_size, local_epochs and hidden must be positive");
  return o;
}

LabelledImages load_fashion_mnist(const std::string& dir, bool train) {
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
  LabelledImages out;
  out.images = torch::from_blob(images.data.data(), {n, 784}, torch::kUInt8).to(torch::kFloat) / 255.0;
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

namespace {

void assign_parameters(torch::nn::Module& m, const torch::Tensor& flat) {
  torch::NoGradGuard g;
  int64_t offset = 0;
  for (auto& p : m.parameters()) {
    p.copy_(flat.slice(0, offset, offset + p.numel()).view_as(p));
    offset += p.numel();
  }
}

}  // namespace

FlatModel::FlatModel(int64_t hidden, uint64_t seed) {
  torch::manual_seed(seed);
  net_ = torch::nn::Sequential(torch::nn::Linear(784, hidden), torch::nn::ReLU(), torch::nn::Linear(hidden, 10));
  std::vector<torch::Tensor> parts;
  for (auto& p : net_->parameters()) {
    parts.push_back(p.detach().flatten());
    layer_sizes_.push_back(p.numel());
  }
  initial_ = torch::cat(parts);
}

double FlatModel::accuracy(const torch::Tensor& global, const LabelledImages& test) {
  torch::NoGradGuard g;
  assign_parameters(*net_, global);
  auto pred = net_->forward(test.images).argmax(1);
  return pred.eq(test.labels).to(torch::kDouble).mean().item<double>();
}

torch::Tensor FlatModel::local_update(const torch::Tensor& global, const Party& party, const SimulationOptions& o,
                                      uint64_t round, size_t k) {
  assign_parameters(*net_, global);
  torch::optim::SGD opt(net_->parameters(), torch::optim::SGDOptions(o.local_lr));
  const int64_t n = party.images.size(0);
  for (int64_t epoch = 0; epoch < o.local_epochs; ++epoch) {
    auto order =
        shuffled_indices(static_cast<size_t>(n), o.seed * 7919 + k, round * 131 + static_cast<uint64_t>(epoch));
    auto idx = torch::tensor(std::vector<int64_t>(order.begin(), order.end()));
    for (int64_t s = 0; s < n; s += o.batch_size) {
      auto b = idx.slice(0, s, std::min(n, s + o.batch_size));
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(net_->forward(party.images.index_select(0, b)),
                                                       party.labels.index_select(0, b));
      loss.backward();
      opt.step();
    }
  }
  std::vector<torch::Tensor> parts;
  for (auto& p : net_->parameters()) parts.push_back(p.detach().flatten());
  return torch::cat(parts) - global;
}

torch::Tensor corrupt_update(const torch::Tensor& u, Corruption corruption, double scale, const torch::Tensor& bad_mean,
                             at::Generator& gen) {
  const double rms = u.norm().item<double>() / std::sqrt(static_cast<double>(std::max<int64_t>(1, u.numel())));
  switch (corruption) {
    case Corruption::Gaussian: return torch::randn(u.sizes(), gen) * (scale * rms);
    case Corruption::SignFlip: return -scale * u;
    case Corruption::Scaled: return scale * u;
    case Corruption::FreeRider: return torch::zeros_like(u);
    case Corruption::Colluding: return -scale * (bad_mean.defined() ? bad_mean : u);
    default: return u;
  }
}

std::vector<Party> make_parties(const SimulationOptions& o, const LabelledImages& train) {
  std::vector<int64_t> labels(train.labels.data_ptr<int64_t>(),
                              train.labels.data_ptr<int64_t>() + train.labels.numel());
  auto split = dirichlet_split(labels, o.parties, o.dirichlet_alpha, o.seed);
  // The bad set: a seeded choice of round(bad_fraction * K) parties.
  const auto n_bad = o.corruption == Corruption::None
                         ? size_t{0}
                         : static_cast<size_t>(std::lround(o.bad_fraction * static_cast<double>(o.parties)));
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
    auto t = torch::tensor(idx);
    p.images = train.images.index_select(0, t);
    p.labels = train.labels.index_select(0, t).clone();
    if (p.bad && o.corruption == Corruption::LabelFlip) p.labels = 9 - p.labels;
    if (p.bad && o.corruption == Corruption::RandomLabels)
      p.labels = torch::randint(0, 10, p.labels.sizes(), gen, torch::kLong);
  }
  return parties;
}

nlohmann::json simulate(const SimulationOptions& o, const std::string& out_dir) {
  const auto start_time = std::chrono::steady_clock::now();
  LabelledImages train = load_fashion_mnist(o.data_dir, true), test = load_fashion_mnist(o.data_dir, false);
  std::vector<Party> parties = make_parties(o, train);
  std::vector<bool> is_bad;
  std::vector<double> counts;
  std::vector<std::string> ids;
  size_t n_bad = 0;
  for (const auto& p : parties) {
    is_bad.push_back(p.bad);
    n_bad += p.bad;
    counts.push_back(static_cast<double>(p.images.size(0)));
    ids.push_back(p.id);
  }
  FlatModel model(o.hidden, o.seed);

  nlohmann::json per_aggregator = nlohmann::json::object(), final_accuracy = nlohmann::json::object();
  for (const auto& name : o.aggregators) {
    auto aggregator = make_aggregator(name, o.aggregator);
    torch::Tensor global = model.initial().clone();
    nlohmann::json acc = nlohmann::json::array(), weights = nlohmann::json::array(), det = nlohmann::json::array();
    auto noise_gen = at::detail::createCPUGenerator(o.seed + 7);
    for (int64_t round = 0; round < o.rounds; ++round) {
      std::vector<torch::Tensor> updates;
      for (size_t k = 0; k < parties.size(); ++k)
        updates.push_back(model.local_update(global, parties[k], o, static_cast<uint64_t>(round), k));
      torch::Tensor bad_mean;
      if (n_bad > 0) {
        bad_mean = torch::zeros_like(global);
        for (size_t k = 0; k < parties.size(); ++k)
          if (is_bad[k]) bad_mean += updates[k] / static_cast<double>(n_bad);
      }
      for (size_t k = 0; k < parties.size(); ++k)
        if (is_bad[k]) updates[k] = corrupt_update(updates[k], o.corruption, o.corruption_scale, bad_mean, noise_gen);
      Aggregate a = aggregator->aggregate({torch::stack(updates), counts, model.layer_sizes(), ids});
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
      {"corruption", corruption_names()[static_cast<size_t>(o.corruption)]},
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
