// PPO-Lagrangian (Ray, Achiam & Amodei 2019, the safe-RL baseline of the NP
// paper): PPO's clipped surrogate on the advantage A_r - λ A_c, with a
// reward and a cost critic (GAE for both) and the multiplier λ raised by
// gradient ascent while the rollout's mean cost per step exceeds cost_limit.
//
// The policy is a Gaussian on the actor's raw output (state-independent
// log-std), mapped into the action space by the actor's head (softmax for an
// allocation): the likelihood ratio is that of the raw sample, which the
// agent keeps beside the executed action. The deterministic policy is the
// head of the mean.
#include <torch/torch.h>

#include <cmath>

#include "algorithms.h"
#include "loom/core/error.h"
#include "loom/core/param_schema.h"
#include "loom/rl/noise.h"

namespace loom::rl {
namespace {

struct PpoOptions {
  double lr = 3e-4;
  int64_t rollout_steps = 1024;
  int64_t epochs = 8;
  int64_t minibatch = 128;
  double clip = 0.2;
  double gae_lambda = 0.95;
  double gamma = 0.99;
  double entropy = 0.0;
  double init_log_std = -0.5;
  double cost_limit = 0.0;  // mean cost per step the constraint allows
  double lambda_lr = 0.05;  // ascent rate of the Lagrange multiplier
  double lambda_init = 0.0;
  double grad_clip = 1.0;
};

const ParamSchema<PpoOptions>& ppo_schema() {
  static const ParamSchema<PpoOptions> schema = [] {
    using O = PpoOptions;
    ParamSchema<O> s;
    s.add("ppo_lr", &O::lr, "ppo_lagrangian: learning rate (Adam)", {0, 1})
        .add("ppo_rollout_steps", &O::rollout_steps, "ppo_lagrangian: environment steps per update", {2, 1e8})
        .add("ppo_epochs", &O::epochs, "ppo_lagrangian: passes over each rollout", {1, 1000})
        .add("ppo_minibatch", &O::minibatch, "ppo_lagrangian: transitions per gradient step", {1, 1e8})
        .add("ppo_clip", &O::clip, "ppo_lagrangian: likelihood-ratio clip", {0, 10})
        .add("gamma", &O::gamma, "discount factor", {0, 1})
        .add("ppo_gae_lambda", &O::gae_lambda, "ppo_lagrangian: GAE λ", {0, 1})
        .add("ppo_entropy", &O::entropy, "ppo_lagrangian: entropy bonus", {0, 10})
        .add("ppo_init_log_std", &O::init_log_std, "ppo_lagrangian: initial log-std of the raw Gaussian", {-20, 5})
        .add("ppo_cost_limit", &O::cost_limit, "ppo_lagrangian: allowed mean cost per step", {0, 1e9})
        .add("ppo_lambda_lr", &O::lambda_lr, "ppo_lagrangian: Lagrange multiplier ascent rate", {0, 1e6})
        .add("ppo_lambda_init", &O::lambda_init, "ppo_lagrangian: initial Lagrange multiplier", {0, 1e9});
    return s;
  }();
  return schema;
}

struct PpoStateImpl : torch::nn::Module {
  PpoStateImpl(const ObservationSpec& o, const ActionSpec& a, const NetworkOptions& net, const PpoOptions& opt) {
    actor = register_module("actor", Actor(o, a, net));
    log_std = register_parameter("log_std", torch::full({a.size}, opt.init_log_std));
    value = register_module("value", Value(o, net));
    cost_value = register_module("cost_value", Value(o, net));
    const int64_t t = opt.rollout_steps;
    auto zeros = [&](int64_t w) { return torch::zeros({t, w}, torch::kFloat32); };
    observations = register_parameter("rollout_observations", zeros(o.size()), false);
    next_observations = register_parameter("rollout_next_observations", zeros(o.size()), false);
    raw = register_parameter("rollout_raw", zeros(a.size), false);
    log_probs = register_parameter("rollout_log_probs", zeros(1), false);
    rewards = register_parameter("rollout_rewards", zeros(1), false);
    costs = register_parameter("rollout_costs", zeros(1), false);
    terminals = register_parameter("rollout_terminals", zeros(1), false);
    ends = register_parameter("rollout_ends", zeros(1), false);
  }
  Actor actor{nullptr};
  torch::Tensor log_std;
  Value value{nullptr}, cost_value{nullptr};
  torch::Tensor observations, next_observations, raw, log_probs, rewards, costs, terminals, ends;
};
TORCH_MODULE(PpoState);

torch::Tensor gaussian_log_prob(const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& log_std) {
  const double log_2pi = std::log(2 * M_PI);
  return (-0.5 * ((x - mean) / log_std.exp()).pow(2) - log_std - 0.5 * log_2pi).sum(-1, true);
}

class PpoLagrangian : public Agent {
 public:
  PpoLagrangian(const PpoOptions& options, const ObservationSpec& o, const ActionSpec& a, const NetworkOptions& net,
                uint64_t seed)
      : options_(options),
        observation_(o),
        action_(a),
        rng_(seed * 0x9E3779B97F4A7C15ULL + 3),
        lambda_(options.lambda_init) {
    torch::manual_seed(seed);
    state_ = PpoState(o, a, net, options);
    std::vector<torch::Tensor> params;
    for (auto& p : state_->parameters())
      if (p.requires_grad()) params.push_back(p);
    optimizer_ = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(options.lr));
  }

  std::vector<double> explore(const Observation& observation, int64_t) override {
    torch::NoGradGuard no_grad;
    auto x = observation_batch({observation}, observation_.size());
    auto mean = state_->actor->forward(x);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<float> eps(static_cast<size_t>(action_.size));
    for (auto& e : eps) e = static_cast<float>(normal(rng_));
    auto raw = mean + state_->log_std.exp() * torch::from_blob(eps.data(), {1, action_.size}, torch::kFloat32);
    last_raw_ = raw.clone();
    last_log_prob_ = gaussian_log_prob(raw, mean, state_->log_std).item<double>();
    auto a = state_->actor->head(raw).squeeze(0).to(torch::kFloat64).contiguous();
    std::vector<double> out(a.data_ptr<double>(), a.data_ptr<double>() + a.numel());
    if (action_.kind == ActionKind::Simplex) {
      double s = 0;
      for (double v : out) s += v;
      for (double& v : out) v /= s;
    }
    return out;
  }

  void record(const Transition& t) override {
    if (!last_raw_.defined()) throw Error("ppo_lagrangian: record() without explore()");
    torch::NoGradGuard no_grad;
    auto& s = *state_;
    const int64_t row = filled_++;
    s.observations[row].copy_(observation_batch({t.observation}, observation_.size())[0]);
    s.next_observations[row].copy_(observation_batch({t.next}, observation_.size())[0]);
    s.raw[row].copy_(last_raw_[0]);
    s.log_probs[row][0] = last_log_prob_;
    s.rewards[row][0] = t.reward;
    s.costs[row][0] = t.cost;
    s.terminals[row][0] = t.terminal ? 1.0 : 0.0;
    s.ends[row][0] = t.terminal || t.truncated ? 1.0 : 0.0;
    last_raw_ = torch::Tensor();
  }

  std::map<std::string, double> learn(int64_t) override {
    if (filled_ < options_.rollout_steps) return {};
    auto out = update();
    filled_ = 0;
    return out;
  }

  std::unique_ptr<Policy> policy() override { return make_actor_policy(state_->actor); }
  Actor actor() override { return state_->actor; }
  torch::nn::Module& state_module() override { return *state_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  nlohmann::json extra_state() const override {
    return {{"rng", rng_state(rng_)}, {"lambda", lambda_}, {"filled", filled_}};
  }
  void set_extra_state(const nlohmann::json& s) override {
    try {
      set_rng_state(rng_, s.at("rng").get<std::string>());
      lambda_ = s.at("lambda").get<double>();
      filled_ = s.at("filled").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("ppo_lagrangian checkpoint state: ") + e.what());
    }
  }

 private:
  // GAE over the rollout, for the values v of each state and of its successor.
  torch::Tensor advantages(const torch::Tensor& signal, const torch::Tensor& v, const torch::Tensor& v_next) const {
    const auto& s = *state_;
    const int64_t n = options_.rollout_steps;
    auto adv = torch::zeros({n, 1});
    double running = 0;
    auto sig = signal.accessor<float, 2>();
    auto vv = v.accessor<float, 2>(), vn = v_next.accessor<float, 2>();
    auto term = s.terminals.accessor<float, 2>(), end = s.ends.accessor<float, 2>();
    auto a = adv.accessor<float, 2>();
    for (int64_t t = n - 1; t >= 0; --t) {
      const double delta = sig[t][0] + options_.gamma * (1 - term[t][0]) * vn[t][0] - vv[t][0];
      running = delta + options_.gamma * options_.gae_lambda * (1 - end[t][0]) * running;
      a[t][0] = static_cast<float>(running);
    }
    return adv;
  }

  std::map<std::string, double> update() {
    auto& s = *state_;
    const int64_t n = options_.rollout_steps;
    torch::Tensor adv_r, adv_c, ret_r, ret_c;
    {
      torch::NoGradGuard no_grad;
      auto v = s.value->forward(s.observations), vn = s.value->forward(s.next_observations);
      auto c = s.cost_value->forward(s.observations), cn = s.cost_value->forward(s.next_observations);
      adv_r = advantages(s.rewards, v, vn);
      adv_c = advantages(s.costs, c, cn);
      ret_r = adv_r + v;
      ret_c = adv_c + c;
    }
    // The multiplier follows the rollout's mean cost per step.
    const double mean_cost = s.costs.mean().item<double>();
    lambda_ = std::max(0.0, lambda_ + options_.lambda_lr * (mean_cost - options_.cost_limit));
    auto combined = (adv_r - lambda_ * adv_c) / (1 + lambda_);
    combined = (combined - combined.mean()) / (combined.std() + 1e-8);
    double policy_loss_sum = 0, value_loss_sum = 0;
    int64_t batches = 0;
    for (int64_t epoch = 0; epoch < options_.epochs; ++epoch) {
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng_);
      for (int64_t start = 0; start < n; start += options_.minibatch) {
        const int64_t end = std::min(n, start + options_.minibatch);
        auto index = torch::tensor(std::vector<int64_t>(order.begin() + start, order.begin() + end), torch::kInt64);
        auto obs = s.observations.index_select(0, index);
        auto mean = s.actor->forward(obs);
        auto logp = gaussian_log_prob(s.raw.index_select(0, index), mean, s.log_std);
        auto ratio = (logp - s.log_probs.index_select(0, index)).exp();
        auto a = combined.index_select(0, index);
        auto surrogate = -torch::min(ratio * a, torch::clamp(ratio, 1 - options_.clip, 1 + options_.clip) * a).mean();
        auto entropy = (s.log_std + 0.5 * std::log(2 * M_PI * M_E)).sum();
        auto value_loss = torch::mse_loss(s.value->forward(obs), ret_r.index_select(0, index)) +
                          torch::mse_loss(s.cost_value->forward(obs), ret_c.index_select(0, index));
        auto loss = surrogate + 0.5 * value_loss - options_.entropy * entropy;
        clear_gradients(s);
        loss.backward();
        if (options_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(s.parameters(), options_.grad_clip);
        optimizer_->step();
        policy_loss_sum += surrogate.item<double>();
        value_loss_sum += value_loss.item<double>();
        ++batches;
      }
    }
    return {{"policy_loss", policy_loss_sum / static_cast<double>(batches)},
            {"value_loss", value_loss_sum / static_cast<double>(batches)},
            {"lambda", lambda_},
            {"rollout_cost", mean_cost}};
  }

  PpoOptions options_;
  ObservationSpec observation_;
  ActionSpec action_;
  std::mt19937_64 rng_;
  double lambda_;
  int64_t filled_ = 0;
  PpoState state_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  torch::Tensor last_raw_;
  double last_log_prob_ = 0;
};

}  // namespace

void register_ppo_lagrangian(Registry<AlgorithmEntry>& r) {
  r.add("ppo_lagrangian", {"PPO with a Lagrange multiplier on the mean constraint cost (safe RL)", ppo_schema().specs(),
                           [](const Params& p, const ObservationSpec& o, const ActionSpec& a, const NetworkOptions& net,
                              uint64_t seed) -> std::unique_ptr<Agent> {
                             return std::make_unique<PpoLagrangian>(ppo_schema().read(p), o, a, net, seed);
                           }});
}

}  // namespace loom::rl
