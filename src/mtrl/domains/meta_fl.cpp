// The meta federated-learning domain (docs/mtrl.md): the policy sets the
// parties' aggregation weights of every round of a small federation.
//
// The universe is fl_parties parties holding Dirichlet(α) shares of
// Fashion-MNIST (fl::make_parties, honest), the images average-pooled to
// fl_image_side² pixels, and a softmax-regression model (or one hidden
// layer), so that an episode of fl_rounds rounds takes milliseconds. A task
// is a subset of the parties plus a corruption mix drawn from its seed: a
// bad fraction in [fl_bad_low, fl_bad_high], and for each bad party one
// corruption of fl_corruptions (held-out tasks: fl_holdout_corruptions), the
// FL module's corruptions (fl/corruption.h).
//
// Each step is one round: every party of the task trains locally from the
// global model; the observation holds, per party, statistics of its update u_k
//   log(‖u_k‖ / median_j ‖u_j‖), cos(u_k, mean u), cos(u_k, median u),
//   log(‖u_k - median u‖ / median_j ‖u_j - median u‖), n x last round's weight,
// and globally the share of rounds done and the current accuracy. The action
// is an allocation over "cash" (keep the current model) and the parties:
// global ← global + Σ_k w_k u_k. The reward is fl_reward_scale x the gain in
// accuracy on the server's validation set (training and tuning splits) or on
// the Fashion-MNIST test set (test split). These features, the cash reading
// and the tiny model are ours: the paper does not specify them.
#include "loom/mtrl/meta_fl.h"

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "domains.h"
#include "loom/core/error.h"
#include "loom/fl/corruption.h"
#include "loom/fl/simulate.h"

namespace loom::mtrl {

void add_meta_fl_options(ParamSchema<DomainOptions>& s) {
  using O = DomainOptions;
  auto f = [](auto member) { return [member](O& o) -> decltype(auto) { return o.meta_fl.*member; }; };
  using M = MetaFlOptions;
  s.add_nested<std::string>("fl_data_dir", f(&M::data_dir), "meta_fl: Fashion-MNIST directory (IDX files)")
      .add_nested<int64_t>("fl_parties", f(&M::universe_parties), "meta_fl: parties of the federation (the universe)",
                           {2, 10000})
      .add_nested<int64_t>("fl_rounds", f(&M::rounds), "meta_fl: FL rounds per episode", {1, 10000})
      .add_nested<int64_t>("fl_samples_per_party", f(&M::samples_per_party), "meta_fl: local examples per party",
                           {1, 60000})
      .add_nested<int64_t>("fl_validation", f(&M::validation_samples),
                           "meta_fl: the server's validation examples (held by no party)", {10, 60000})
      .add_nested<int64_t>("fl_image_side", f(&M::image_side), "meta_fl: images average-pooled to side x side", {1, 28})
      .add_nested<int64_t>("fl_hidden", f(&M::hidden), "meta_fl: hidden units of the FL model (0: softmax regression)",
                           {0, 4096})
      .add_nested<double>("fl_local_lr", f(&M::local_lr), "meta_fl: local SGD learning rate", {0, 100})
      .add_nested<int64_t>("fl_local_epochs", f(&M::local_epochs), "meta_fl: local epochs per round", {1, 1000})
      .add_nested<int64_t>("fl_local_batch", f(&M::local_batch), "meta_fl: local batch size", {1, 60000})
      .add_nested<double>("fl_dirichlet_alpha", f(&M::dirichlet_alpha), "meta_fl: Dirichlet α of the label split",
                          {1e-3, 1e6})
      .add_nested<uint64_t>("fl_data_seed", f(&M::data_seed), "meta_fl: seed of the parties' data and model")
      .add_nested<std::vector<std::string>>("fl_corruptions", f(&M::corruptions),
                                            "meta_fl: corruptions the training tasks' bad parties draw from")
      .add_nested<std::vector<std::string>>("fl_holdout_corruptions", f(&M::holdout_corruptions),
                                            "meta_fl: corruptions of the held-out tasks' bad parties")
      .add_nested<double>("fl_bad_low", f(&M::bad_fraction_low), "meta_fl: smallest bad fraction of a task", {0, 1})
      .add_nested<double>("fl_bad_high", f(&M::bad_fraction_high), "meta_fl: largest bad fraction of a task", {0, 1})
      .add_nested<double>("fl_reward_scale", f(&M::reward_scale), "meta_fl: reward = scale x accuracy gain",
                          {1e-6, 1e6});
}

namespace {

struct FederationData {
  std::vector<fl::LabelledData> parties;  // honest local data, one per universe party
  fl::LabelledData validation, test;
  MlpOptions layers;
};

fl::LabelledData pooled(const fl::LabelledData& d, int64_t side) {
  if (28 % side != 0) throw Error("fl_image_side: " + std::to_string(side) + " does not divide 28");
  auto x = d.inputs.view({-1, 1, 28, 28});
  auto p = torch::avg_pool2d(x, 28 / side).reshape({x.size(0), side * side}).contiguous();
  return {p, d.labels};
}

class MetaFlEnv : public rl::Environment {
 public:
  MetaFlEnv(std::shared_ptr<const FederationData> data, const MetaFlOptions& options, const Task& task, rl::Split split,
            bool held_out)
      : data_(std::move(data)),
        options_(options),
        task_(task),
        split_(split),
        model_(data_->layers, options.data_seed) {
    const auto n = task.resources.size();
    std::mt19937_64 rng(task.window_seed);
    const double fraction =
        std::uniform_real_distribution<double>(options.bad_fraction_low, options.bad_fraction_high)(rng);
    const auto bad = static_cast<size_t>(std::lround(fraction * static_cast<double>(n)));
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    const auto& pool = held_out ? options.holdout_corruptions : options.corruptions;
    const char* key = held_out ? "fl_holdout_corruptions" : "fl_corruptions";
    if (bad > 0 && pool.empty()) throw Error(std::string(key) + ": empty, but the task has bad parties");
    corruption_.resize(n);
    kind_.assign(n, "none");
    auto gen = at::detail::createCPUGenerator(task.window_seed);
    for (size_t i = 0; i < n; ++i) {
      const auto& honest = data_->parties[static_cast<size_t>(task.resources[i])];
      local_.push_back({honest.inputs, honest.labels.clone()});
      counts_.push_back(static_cast<double>(honest.inputs.size(0)));
      ids_.push_back(task.names[i]);
    }
    for (size_t b = 0; b < bad; ++b) {
      const size_t i = order[b];
      kind_[i] = pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)];
      corruption_[i] = fl::make_corruption(kind_[i], Params(fl::corruption_param_specs()), key);
      local_[i].labels = corruption_[i]->labels(local_[i].labels, gen);
    }
  }

  std::string name() const override { return "meta_fl:" + task_.name; }
  rl::ObservationSpec observation_spec() const override { return {parties(), 5, 2}; }
  rl::ActionSpec action_spec() const override {
    rl::ActionSpec a;
    a.size = parties() + 1;
    a.kind = rl::ActionKind::Simplex;
    a.names.push_back("keep");
    for (const auto& n : task_.names) a.names.push_back(n);
    return a;
  }
  int64_t max_episode_steps() const override { return options_.rounds; }
  int64_t episodes() const override { return split_ == rl::Split::Train ? 1 : split_ == rl::Split::Tune ? 2 : 4; }

  rl::Observation reset(uint64_t seed, int64_t episode) override {
    // Evaluation episodes differ by their local data order only.
    seed_ = split_ == rl::Split::Train ? seed
                                       : 7919 * static_cast<uint64_t>(std::max<int64_t>(episode, 0)) + 11 +
                                             (split_ == rl::Split::Test ? 104729 : 0);
    global_ = model_.initial().clone();
    round_ = 0;
    previous_.assign(static_cast<size_t>(parties()), 1.0 / static_cast<double>(parties()));
    accuracy_ = model_.accuracy(global_, evaluation_set());
    compute_updates();
    return observe();
  }

  rl::ConstraintSet constraints() const override {
    rl::ConstraintSet c = rl::ConstraintSet::simplex(parties() + 1);
    c.names = action_spec().names;
    return c;
  }

  rl::StepResult step(const std::vector<double>& action) override {
    check_running();
    rl::check_action_space(action_spec(), action, "meta_fl " + task_.name + " round " + std::to_string(round_));
    auto w = torch::tensor(std::vector<double>(action.begin() + 1, action.end()), torch::kFloat64).to(torch::kFloat32);
    auto update = (updates_ * w.unsqueeze(1)).sum(0);
    return advance(update, std::vector<double>(action.begin() + 1, action.end()));
  }

  // One round closed by a fixed FL aggregator instead of the policy.
  rl::StepResult step_with(fl::Aggregator& aggregator) {
    check_running();
    fl::RoundUpdates r;  // no server reference set: the aggregators compared here need none
    r.updates = updates_;
    r.sample_counts = counts_;
    r.layer_sizes = model_.layer_sizes();
    r.party_ids = ids_;
    fl::Aggregate a = aggregator.aggregate(r);
    return advance(a.update, a.weights);
  }

  rl::Observation observe() const override {
    rl::Observation o;
    const int64_t n = parties();
    auto norms = updates_.norm(2, 1);
    auto median = std::get<0>(updates_.median(0));
    auto mean = updates_.mean(0);
    auto distances = (updates_ - median.unsqueeze(0)).norm(2, 1);
    const double median_norm = std::get<0>(norms.median(0)).item<double>();
    const double median_distance = std::get<0>(distances.median(0)).item<double>();
    auto cosine = [&](const torch::Tensor& v) {
      return torch::cosine_similarity(updates_, v.unsqueeze(0).expand_as(updates_), 1, 1e-12);
    };
    auto cm = cosine(mean), cd = cosine(median);
    auto safe_log = [](double x) { return static_cast<float>(std::clamp(std::log(std::max(x, 1e-12)), -10.0, 10.0)); };
    for (int64_t k = 0; k < n; ++k) {
      o.push_back(safe_log(norms[k].item<double>() / std::max(median_norm, 1e-12)));
      o.push_back(cm[k].item<float>());
      o.push_back(cd[k].item<float>());
      o.push_back(safe_log(distances[k].item<double>() / std::max(median_distance, 1e-12)));
      o.push_back(static_cast<float>(static_cast<double>(n) * previous_[static_cast<size_t>(k)]));
    }
    o.push_back(static_cast<float>(round_) / static_cast<float>(options_.rounds));
    o.push_back(static_cast<float>(accuracy_));
    return o;
  }

  nlohmann::json state() const override {
    auto g = global_.contiguous();
    return {{"global", std::vector<float>(g.data_ptr<float>(), g.data_ptr<float>() + g.numel())},
            {"round", round_},
            {"accuracy", accuracy_},
            {"previous", previous_},
            {"seed", seed_}};
  }
  void set_state(const nlohmann::json& s) override {
    try {
      auto g = s.at("global").get<std::vector<float>>();
      if (static_cast<int64_t>(g.size()) != model_.size())
        throw Error("meta_fl state: a model of " + std::to_string(g.size()) + " values, expected " +
                    std::to_string(model_.size()));
      global_ = torch::tensor(g, torch::kFloat32);
      round_ = s.at("round").get<int64_t>();
      accuracy_ = s.at("accuracy").get<double>();
      previous_ = s.at("previous").get<std::vector<double>>();
      seed_ = s.at("seed").get<uint64_t>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("meta_fl state: ") + e.what());
    }
    if (static_cast<int64_t>(previous_.size()) != parties() || round_ < 0 || round_ > options_.rounds)
      throw Error("meta_fl state: does not fit task " + task_.name);
    if (round_ < options_.rounds) compute_updates();
  }

  double accuracy() const { return accuracy_; }
  const std::vector<std::string>& corruption_kinds() const { return kind_; }

 private:
  int64_t parties() const { return static_cast<int64_t>(task_.resources.size()); }
  const fl::LabelledData& evaluation_set() const { return split_ == rl::Split::Test ? data_->test : data_->validation; }
  void check_running() const {
    if (round_ >= options_.rounds) throw Error("meta_fl: step after the episode ended; call reset");
  }

  void compute_updates() {
    const fl::LocalTraining training{options_.local_epochs, options_.local_batch, options_.local_lr, seed_};
    std::vector<torch::Tensor> u;
    for (size_t k = 0; k < local_.size(); ++k)
      u.push_back(model_.local_update(global_, local_[k], training, static_cast<uint64_t>(round_),
                                      static_cast<uint64_t>(task_.resources[k])));
    torch::Tensor bad_mean;
    int64_t bad = 0;
    for (size_t k = 0; k < u.size(); ++k)
      if (corruption_[k]) bad_mean = bad++ == 0 ? u[k].clone() : bad_mean + u[k];
    if (bad > 0) bad_mean = bad_mean / static_cast<double>(bad);
    auto gen = at::detail::createCPUGenerator(seed_ * 1000003 + static_cast<uint64_t>(round_));
    for (size_t k = 0; k < u.size(); ++k)
      if (corruption_[k]) u[k] = corruption_[k]->update(u[k], bad_mean, gen);
    updates_ = torch::stack(u);
  }

  rl::StepResult advance(const torch::Tensor& update, const std::vector<double>& weights) {
    global_ = global_ + update;
    rl::StepResult r;
    const double accuracy = model_.accuracy(global_, evaluation_set());
    if (!std::isfinite(global_.sum().item<double>())) throw Error("meta_fl: the global model is no longer finite");
    r.reward = options_.reward_scale * (accuracy - accuracy_);
    r.info["accuracy"] = accuracy;
    accuracy_ = accuracy;
    previous_ = weights;
    ++round_;
    r.done = round_ >= options_.rounds;
    if (!r.done) compute_updates();
    r.observation = observe();
    return r;
  }

  std::shared_ptr<const FederationData> data_;
  MetaFlOptions options_;
  Task task_;
  rl::Split split_;
  fl::FlatModel model_;
  std::vector<fl::LabelledData> local_;
  std::vector<std::unique_ptr<fl::Corruption>> corruption_;  // null for honest parties
  std::vector<std::string> kind_;
  std::vector<double> counts_;
  std::vector<std::string> ids_;
  // State
  uint64_t seed_ = 0;
  torch::Tensor global_, updates_;
  int64_t round_ = 0;
  double accuracy_ = 0;
  std::vector<double> previous_;
};

class MetaFlDomain : public TaskDomain {
 public:
  explicit MetaFlDomain(const MetaFlOptions& o) : options_(o) {
    if (o.bad_fraction_low > o.bad_fraction_high)
      throw Error("fl_bad_low: " + std::to_string(o.bad_fraction_low) + " is above fl_bad_high " +
                  std::to_string(o.bad_fraction_high));
    for (const auto* list : {&o.corruptions, &o.holdout_corruptions})
      for (const auto& name : *list)
        fl::corruptions().get(name, list == &o.corruptions ? "fl_corruptions" : "fl_holdout_corruptions");
    auto data = std::make_shared<FederationData>();
    const fl::LabelledData train = pooled(fl::load_fashion_mnist(o.data_dir, true), o.image_side);
    data->test = pooled(fl::load_fashion_mnist(o.data_dir, false), o.image_side);
    fl::SimulationOptions s;  // the FL simulator's party split, every party honest
    s.parties = o.universe_parties;
    s.corruption = "none";
    s.dirichlet_alpha = o.dirichlet_alpha;
    s.samples_per_party = o.samples_per_party;
    s.seed = o.data_seed;
    s.server_reference = o.validation_samples;
    const auto parties = fl::make_parties(s, train);
    for (const auto& p : parties) data->parties.push_back(p.data);
    data->validation = fl::server_reference_set(s, train, parties);
    const int64_t in = o.image_side * o.image_side;
    data->layers = o.hidden > 0 ? MlpOptions{{in, o.hidden, 10}} : MlpOptions{{in, 10}};
    data_ = data;
    for (int64_t k = 0; k < o.universe_parties; ++k) universe_.push_back("p" + std::to_string(k));
  }
  std::string name() const override { return "meta_fl"; }
  std::vector<std::string> universe() const override { return universe_; }
  int64_t resource_features() const override { return 5; }
  int64_t global_features() const override { return 2; }
  std::unique_ptr<rl::Environment> make_environment(const Task& task, rl::Split split, bool held_out) const override {
    return std::make_unique<MetaFlEnv>(data_, options_, task, split, held_out);
  }

 private:
  MetaFlOptions options_;
  std::shared_ptr<const FederationData> data_;
  std::vector<std::string> universe_;
};

}  // namespace

void register_meta_fl_domain(Registry<DomainEntry>& r) {
  r.add("meta_fl", {"party subsets and corruption mixes of a small Fashion-MNIST federation; the policy sets the "
                    "aggregation weights of every round",
                    [](const DomainOptions& o) -> std::unique_ptr<TaskDomain> {
                      return std::make_unique<MetaFlDomain>(o.meta_fl);
                    }});
}

std::map<std::string, std::map<std::string, double>> evaluate_meta_fl_aggregators(
    const MtrlOptions& o, const std::vector<std::string>& aggregators) {
  if (o.domain.domain != "meta_fl") throw Error("baselines: FL aggregators run in the meta_fl domain only");
  auto domain = make_domain(o.domain);
  const TaskSet set = make_task_set(domain->universe(), o.tasks);
  const rl::Split split = o.split == "train" ? rl::Split::Train : o.split == "tune" ? rl::Split::Tune : rl::Split::Test;
  for (const auto& name : o.eval_tasks) set.find(name, "eval_tasks");
  for (const auto& name : aggregators) fl::aggregators().get(name, "baselines");
  std::map<std::string, std::map<std::string, double>> out;
  for (const auto& name : aggregators) {
    for (const auto* list : {&set.train, &set.holdout})
      for (const auto& task : *list) {
        if (!o.eval_tasks.empty() &&
            std::find(o.eval_tasks.begin(), o.eval_tasks.end(), task.name) == o.eval_tasks.end())
          continue;
        auto env = domain->make_environment(task, split, list == &set.holdout);
        auto& fl_env = dynamic_cast<MetaFlEnv&>(*env);
        double total = 0;
        for (int64_t e = 0; e < fl_env.episodes(); ++e) {
          auto aggregator = fl::make_aggregator(name, Params(fl::aggregator_param_specs()), "baselines");
          fl_env.reset(o.seed, e);
          for (;;) {
            rl::StepResult r = fl_env.step_with(*aggregator);
            total += r.reward;
            if (r.done) break;
          }
        }
        out[name][task.name] = total / static_cast<double>(fl_env.episodes());
      }
  }
  return out;
}

}  // namespace loom::mtrl
