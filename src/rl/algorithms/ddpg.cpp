// DDPG (Lillicrap et al. 2016) and TD3 (Fujimoto et al. 2018) as one agent:
// TD3 is DDPG with twin critics (the smaller target), target-policy
// smoothing and delayed actor updates. Exploration noise is added to the
// actor's raw output, before the action head, so explored allocations stay
// on the simplex; for TD3 the target smoothing noise is added there too.
#include <torch/torch.h>

#include <cmath>

#include "algorithms.h"
#include "loom/core/error.h"
#include "loom/core/param_schema.h"
#include "loom/rl/noise.h"
#include "loom/rl/replay_buffer.h"

namespace loom::rl {
namespace {

struct DdpgOptions {
  double actor_lr = 1e-4;
  double critic_lr = 1e-3;
  double gamma = 0.99;
  double tau = 0.005;
  int64_t batch_size = 64;
  int64_t replay_capacity = 100000;
  int64_t warmup_steps = 1000;  // uniformly random actions before the first update
  int64_t updates_per_step = 1;
  double grad_clip = 1.0;  // max gradient norm per update (0: none)
  NoiseOptions noise;
  // TD3 (set from Td3Options)
  bool twin = false;
  int64_t policy_delay = 1;
  double target_noise = 0.0, target_noise_clip = 0.5;
};

const ParamSchema<DdpgOptions>& ddpg_schema() {
  static const ParamSchema<DdpgOptions> schema = [] {
    using O = DdpgOptions;
    ParamSchema<O> s;
    s.add("actor_lr", &O::actor_lr, "ddpg/td3: actor learning rate (Adam)", {0, 1})
        .add("critic_lr", &O::critic_lr, "ddpg/td3: critic learning rate (Adam)", {0, 1})
        .add("gamma", &O::gamma, "discount factor", {0, 1})
        .add("tau", &O::tau, "ddpg/td3: target networks' soft-update rate", {0, 1})
        .add("batch_size", &O::batch_size, "ddpg/td3: transitions per update", {1, 1e6})
        .add("replay_capacity", &O::replay_capacity, "ddpg/td3: replay buffer capacity (capped at the run's steps)",
             {1, 1e9})
        .add("warmup_steps", &O::warmup_steps, "ddpg/td3: steps of uniformly random actions before learning", {0, 1e9})
        .add("updates_per_step", &O::updates_per_step, "ddpg/td3: gradient updates per environment step", {1, 1000})
        .add("grad_clip", &O::grad_clip, "max gradient norm per update (0: no clipping)", {0, 1e9})
        .include<NoiseOptions>(noise_options_schema(), [](O& o) -> NoiseOptions& { return o.noise; });
    return s;
  }();
  return schema;
}

// TD3's own keys, with its published defaults.
struct Td3Options {
  int64_t policy_delay = 2;
  double target_noise = 0.2, target_noise_clip = 0.5;
};

const ParamSchema<Td3Options>& td3_schema() {
  static const ParamSchema<Td3Options> schema = [] {
    using O = Td3Options;
    ParamSchema<O> s;
    s.add("td3_policy_delay", &O::policy_delay, "td3: critic updates per actor update", {1, 1000})
        .add("td3_target_noise", &O::target_noise, "td3: target-policy smoothing noise σ (on the raw output)", {0, 100})
        .add("td3_target_noise_clip", &O::target_noise_clip, "td3: clip of the smoothing noise", {0, 100});
    return s;
  }();
  return schema;
}

// Every tensor the agent owns, for one checkpointed module.
struct DdpgStateImpl : torch::nn::Module {
  DdpgStateImpl(const ObservationSpec& o, const ActionSpec& a, const NetworkOptions& net, const DdpgOptions& opt,
                int64_t capacity) {
    actor = register_module("actor", Actor(o, a, net));
    critic = register_module("critic", Critic(o, a, net));
    target_actor = register_module("target_actor", Actor(o, a, net));
    target_critic = register_module("target_critic", Critic(o, a, net));
    if (opt.twin) {
      critic2 = register_module("critic2", Critic(o, a, net));
      target_critic2 = register_module("target_critic2", Critic(o, a, net));
    }
    replay = register_module("replay", ReplayBuffer(capacity, o.size(), a.size));
  }
  Actor actor{nullptr}, target_actor{nullptr};
  Critic critic{nullptr}, target_critic{nullptr}, critic2{nullptr}, target_critic2{nullptr};
  ReplayBuffer replay{nullptr};
};
TORCH_MODULE(DdpgState);

void copy_parameters(torch::nn::Module& target, const torch::nn::Module& source) { soft_update(target, source, 1.0); }

std::vector<torch::Tensor> trainable(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (auto& p : m.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

class Ddpg : public Agent {
 public:
  Ddpg(const DdpgOptions& options, const ObservationSpec& o, const ActionSpec& a, const NetworkOptions& net,
       uint64_t seed)
      : options_(options), observation_(o), action_(a), noise_(options.noise, a.size), rng_(seed * 2654435761ULL + 1) {
    torch::manual_seed(seed);
    state_ = DdpgState(o, a, net, options, options.replay_capacity);
    copy_parameters(*state_->target_actor, *state_->actor);
    copy_parameters(*state_->target_critic, *state_->critic);
    std::vector<torch::Tensor> critics = trainable(*state_->critic);
    if (options.twin) {
      copy_parameters(*state_->target_critic2, *state_->critic2);
      for (auto& p : trainable(*state_->critic2)) critics.push_back(p);
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(trainable(*state_->actor), std::make_unique<torch::optim::AdamOptions>(options.actor_lr));
    groups.emplace_back(critics, std::make_unique<torch::optim::AdamOptions>(options.critic_lr));
    optimizer_ = std::make_unique<torch::optim::Adam>(std::move(groups), torch::optim::AdamOptions(options.critic_lr));
  }

  std::vector<double> explore(const Observation& observation, int64_t step) override {
    if (step < options_.warmup_steps) return random_action();
    torch::NoGradGuard no_grad;
    auto raw = state_->actor->forward(observation_batch({observation}, observation_.size()));
    const auto noise = noise_.sample(rng_, step);
    auto n = torch::tensor(noise, torch::kFloat64).to(torch::kFloat32).unsqueeze(0);
    return to_action(state_->actor->head(raw + n));
  }

  void start_episode() override { noise_.reset(); }

  void record(const Transition& t) override {
    state_->replay->add(t.observation, t.action, t.reward, t.cost, t.next, t.terminal);
  }

  std::map<std::string, double> learn(int64_t step) override {
    std::map<std::string, double> out;
    if (step < options_.warmup_steps || state_->replay->size() < options_.batch_size) return out;
    for (int64_t k = 0; k < options_.updates_per_step; ++k) out = update();
    return out;
  }

  std::unique_ptr<Policy> policy() override { return make_actor_policy(state_->actor); }
  Actor actor() override { return state_->actor; }
  torch::nn::Module& state_module() override { return *state_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }

  nlohmann::json extra_state() const override {
    return {{"rng", rng_state(rng_)},
            {"noise", noise_.state()},
            {"replay", state_->replay->state()},
            {"updates", updates_}};
  }
  void set_extra_state(const nlohmann::json& s) override {
    try {
      set_rng_state(rng_, s.at("rng").get<std::string>());
      noise_.set_state(s.at("noise"));
      state_->replay->set_state(s.at("replay"));
      updates_ = s.at("updates").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("ddpg checkpoint state: ") + e.what());
    }
  }

 private:
  std::vector<double> to_action(const torch::Tensor& a) const {
    auto d = a.squeeze(0).to(torch::kFloat64).contiguous();
    std::vector<double> out(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
    if (action_.kind == ActionKind::Simplex) {
      double s = 0;
      for (double v : out) s += v;
      for (double& v : out) v /= s;
    }
    return out;
  }

  std::vector<double> random_action() {
    std::vector<double> a(static_cast<size_t>(action_.size));
    if (action_.kind == ActionKind::Simplex) {
      std::exponential_distribution<double> e(1.0);  // normalised: uniform on the simplex
      double s = 0;
      for (double& v : a) s += (v = e(rng_));
      for (double& v : a) v /= s;
    } else {
      std::uniform_real_distribution<double> u(0.0, 1.0);
      for (size_t i = 0; i < a.size(); ++i) a[i] = action_.low[i] + u(rng_) * (action_.high[i] - action_.low[i]);
    }
    return a;
  }

  torch::Tensor normal_like(int64_t rows, int64_t cols, double sigma, double clip) {
    std::normal_distribution<double> normal(0.0, sigma);
    std::vector<float> v(static_cast<size_t>(rows * cols));
    for (auto& x : v) x = static_cast<float>(std::clamp(normal(rng_), -clip, clip));
    return torch::from_blob(v.data(), {rows, cols}, torch::kFloat32).clone();
  }

  std::map<std::string, double> update() {
    auto& s = *state_;
    const TransitionBatch b = s.replay->sample(options_.batch_size, rng_);
    torch::Tensor target;
    {
      torch::NoGradGuard no_grad;
      auto raw = s.target_actor->forward(b.next_observations);
      if (options_.twin && options_.target_noise > 0)
        raw = raw + normal_like(raw.size(0), raw.size(1), options_.target_noise, options_.target_noise_clip);
      auto next_action = s.target_actor->head(raw);
      auto q = s.target_critic->forward(b.next_observations, next_action);
      if (options_.twin) q = torch::min(q, s.target_critic2->forward(b.next_observations, next_action));
      target = b.rewards + options_.gamma * (1 - b.terminals) * q;
    }
    clear_gradients(*state_);
    auto critic_loss = torch::mse_loss(s.critic->forward(b.observations, b.actions), target);
    if (options_.twin)
      critic_loss = critic_loss + torch::mse_loss(s.critic2->forward(b.observations, b.actions), target);
    critic_loss.backward();
    clip(*s.critic);
    if (options_.twin) clip(*s.critic2);
    optimizer_->step();
    std::map<std::string, double> out = {{"critic_loss", critic_loss.item<double>()}};
    ++updates_;
    if (updates_ % options_.policy_delay == 0) {
      clear_gradients(*state_);
      auto actor_loss = -s.critic->forward(b.observations, s.actor->act(b.observations)).mean();
      actor_loss.backward();
      // The actor's loss reaches the critic too; only the actor steps.
      clear_gradients(*s.critic);
      clip(*s.actor);
      optimizer_->step();
      out["actor_loss"] = actor_loss.item<double>();
      soft_update(*s.target_actor, *s.actor, options_.tau);
      soft_update(*s.target_critic, *s.critic, options_.tau);
      if (options_.twin) soft_update(*s.target_critic2, *s.critic2, options_.tau);
    }
    return out;
  }

  void clip(torch::nn::Module& m) {
    if (options_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(m.parameters(), options_.grad_clip);
  }

  DdpgOptions options_;
  ObservationSpec observation_;
  ActionSpec action_;
  ExplorationNoise noise_;
  mutable std::mt19937_64 rng_;
  DdpgState state_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  int64_t updates_ = 0;
};

std::unique_ptr<Agent> make(const Params& p, const ObservationSpec& o, const ActionSpec& a, const NetworkOptions& net,
                            uint64_t seed, bool twin) {
  DdpgOptions options = ddpg_schema().read(p);
  options.twin = twin;
  if (twin) {
    const Td3Options t = td3_schema().read(p);
    options.policy_delay = t.policy_delay;
    options.target_noise = t.target_noise;
    options.target_noise_clip = t.target_noise_clip;
  }
  return std::make_unique<Ddpg>(options, o, a, net, seed);
}

std::vector<ParamSpec> td3_specs() {
  auto specs = ddpg_schema().specs();
  for (auto& spec : td3_schema().specs()) specs.push_back(spec);
  return specs;
}

}  // namespace

void register_ddpg(Registry<AlgorithmEntry>& r) {
  r.add("ddpg", {"deep deterministic policy gradient: actor, critic, target networks, replay, OU or Gaussian noise",
                 ddpg_schema().specs(),
                 [](const Params& p, const ObservationSpec& o, const ActionSpec& a, const NetworkOptions& net,
                    uint64_t seed) { return make(p, o, a, net, seed, false); }});
  r.add("td3", {"TD3: DDPG with twin critics, target-policy smoothing and delayed actor updates", td3_specs(),
                [](const Params& p, const ObservationSpec& o, const ActionSpec& a, const NetworkOptions& net,
                   uint64_t seed) { return make(p, o, a, net, seed, true); }});
}

}  // namespace loom::rl
