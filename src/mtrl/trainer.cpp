// Multi-task DDPG over one allocation actor and critic (mtrl/mtrl.h).
#include "loom/rl/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/core/jsonl.h"
#include "loom/mtrl/mtrl.h"
#include "loom/rl/agent.h"
#include "loom/rl/replay_buffer.h"
#include "loom/tensor/tensor_io.h"
#include "loom/train/checkpoint.h"

namespace loom::mtrl {
namespace fs = std::filesystem;

const ParamSchema<MtrlOptions>& mtrl_options_schema() {
  static const ParamSchema<MtrlOptions> schema = [] {
    using O = MtrlOptions;
    using D = DdpgSettings;
    ParamSchema<O> s;
    auto ddpg = [](auto member) { return [member](O& o) -> decltype(auto) { return o.ddpg.*member; }; };
    s.include<DomainOptions>(domain_options_schema(), [](O& o) -> DomainOptions& { return o.domain; })
        .include<TaskSetOptions>(task_set_options_schema(), [](O& o) -> TaskSetOptions& { return o.tasks; })
        .include<SamplerOptions>(sampler_options_schema(), [](O& o) -> SamplerOptions& { return o.sampler; })
        .include<AllocationNetworkOptions>(allocation_network_options_schema(),
                                           [](O& o) -> AllocationNetworkOptions& { return o.network; })
        .add_nested<double>("actor_lr", ddpg(&D::actor_lr), "ddpg: actor learning rate (Adam)", {0, 1})
        .add_nested<double>("critic_lr", ddpg(&D::critic_lr), "ddpg: critic learning rate (Adam)", {0, 1})
        .add_nested<double>("gamma", ddpg(&D::gamma), "ddpg: discount factor", {0, 1})
        .add_nested<double>("tau", ddpg(&D::tau), "ddpg: target networks' soft-update rate", {0, 1})
        .add_nested<int64_t>("batch_size", ddpg(&D::batch_size), "ddpg: transitions per update (one task's)", {1, 1e6})
        .add_nested<int64_t>("replay_capacity", ddpg(&D::replay_capacity),
                             "ddpg: replay capacity per task (capped at the run's steps)", {1, 1e9})
        .add_nested<int64_t>("warmup_steps", ddpg(&D::warmup_steps),
                             "ddpg: steps of uniformly random allocations before learning", {0, 1e9})
        .add_nested<int64_t>("updates_per_step", ddpg(&D::updates_per_step),
                             "ddpg: gradient updates per environment step", {1, 1000})
        .add_nested<double>("grad_clip", ddpg(&D::grad_clip), "ddpg: max gradient norm per update (0: none)", {0, 1e9})
        .include<rl::NoiseOptions>(rl::noise_options_schema(), [](O& o) -> rl::NoiseOptions& { return o.ddpg.noise; })
        .add("train_steps", &O::steps, "environment steps, all tasks together", {1, 1e10})
        .add("eval_every", &O::eval_every, "evaluate every task on the tuning split every this many steps (0: end)",
             {0, 1e10})
        .add("checkpoint_every", &O::checkpoint_every, "checkpoint every this many steps", {1, 1e10})
        .add("keep_checkpoints", &O::keep_checkpoints, "checkpoints kept", {1, 1000})
        .add("seed", &O::seed, "seed of the networks, exploration, task draws and replay")
        .add("threads", &O::threads, "torch threads", {1, 256})
        .add("progress", &O::progress, "a line per evaluation on stderr")
        .add("out", &O::out, "run directory (metrics.jsonl, checkpoints/, policy/)")
        .add("resume", &O::resume, "train: continue from the run directory's latest checkpoint")
        .add("policy", &O::policy, "evaluate: policy directory (default: OUT/policy)")
        .add("eval_tasks", &O::eval_tasks, "evaluate: task names (t0, h1, ...), comma-separated; empty = all")
        .add_choice("split", &O::split, {"train", "tune", "test"}, "evaluate: the split's episodes")
        .add("baselines", &O::baselines,
             "evaluate: baselines on the same episodes: uniform (any domain; UCRP for portfolios), and in meta_fl "
             "FL aggregators (fedavg, median, bayes, ...)");
    return s;
  }();
  return schema;
}

namespace {

uint64_t episode_seed(uint64_t seed, int64_t episode) {
  std::mt19937_64 g(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(episode) * 0xD1B54A32D192ED03ULL + 17);
  return g();
}

int64_t max_slots(const MtrlOptions& o, const TaskDomain& domain) {
  return o.network.max_resources > 0 ? o.network.max_resources : static_cast<int64_t>(domain.universe().size());
}

// Every tensor of a run: networks, targets and one replay buffer per task.
struct LearnerStateImpl : torch::nn::Module {
  LearnerStateImpl(int64_t f, int64_t g, const AllocationNetworkOptions& net, int64_t slots,
                   const std::vector<std::pair<int64_t, int64_t>>& sizes, int64_t capacity) {
    actor = register_module("actor", AllocationActor(f, g, net, slots));
    critic = register_module("critic", AllocationCritic(f, g, net, slots));
    target_actor = register_module("target_actor", AllocationActor(f, g, net, slots));
    target_critic = register_module("target_critic", AllocationCritic(f, g, net, slots));
    for (size_t k = 0; k < sizes.size(); ++k)
      replay.push_back(
          register_module("replay_" + std::to_string(k), rl::ReplayBuffer(capacity, sizes[k].first, sizes[k].second)));
  }
  AllocationActor actor{nullptr}, target_actor{nullptr};
  AllocationCritic critic{nullptr}, target_critic{nullptr};
  std::vector<rl::ReplayBuffer> replay;
};
TORCH_MODULE(LearnerState);

std::vector<double> to_allocation(const torch::Tensor& row) {
  auto d = row.to(torch::kFloat64).contiguous();
  std::vector<double> out(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  double s = 0;
  for (double v : out) s += v;
  for (double& v : out) v /= s;  // float32 softmax sums to 1 only to ~1e-7
  return out;
}

nlohmann::json eval_json(const EvalPoint& p) {
  return {{"step", p.step}, {"eval", p.returns}, {"train_mean", p.train_mean}, {"holdout_mean", p.holdout_mean}};
}
EvalPoint eval_from_json(const nlohmann::json& j) {
  EvalPoint p;
  p.step = j.at("step").get<int64_t>();
  p.returns = j.at("eval").get<std::map<std::string, double>>();
  p.train_mean = j.at("train_mean").get<double>();
  p.holdout_mean = j.at("holdout_mean").get<double>();
  return p;
}

class AllocationPolicy : public rl::Policy {
 public:
  explicit AllocationPolicy(AllocationActor actor) : actor_(std::move(actor)) {}
  std::vector<std::vector<double>> act_batch(const std::vector<rl::Observation>& observations) override {
    torch::NoGradGuard no_grad;
    if (observations.empty()) return {};
    auto x = rl::observation_batch(observations, static_cast<int64_t>(observations[0].size()));
    auto a = actor_->act(x);
    std::vector<std::vector<double>> out;
    for (int64_t b = 0; b < a.size(0); ++b) out.push_back(to_allocation(a[b]));
    return out;
  }

 private:
  AllocationActor actor_;
};

}  // namespace

std::unique_ptr<rl::Policy> make_allocation_policy(AllocationActor actor) {
  return std::make_unique<AllocationPolicy>(std::move(actor));
}

MtrlResult train_mtrl(const MtrlOptions& o, const std::string& run_dir, bool resume) {
  make_dirs(run_dir);
  auto domain = make_domain(o.domain);
  const TaskSet set = make_task_set(domain->universe(), o.tasks);
  const size_t k_tasks = set.train.size();
  const int64_t f = domain->resource_features(), g = domain->global_features();
  std::vector<std::unique_ptr<rl::Environment>> envs, tune;
  std::vector<std::pair<int64_t, int64_t>> sizes;
  std::vector<rl::ExplorationNoise> noises;
  for (const auto& t : set.train) {
    envs.push_back(domain->make_environment(t, rl::Split::Train, false));
    sizes.emplace_back(envs.back()->observation_spec().size(), envs.back()->action_spec().size);
    noises.emplace_back(o.ddpg.noise, envs.back()->action_spec().size);
  }
  std::vector<std::string> tune_names;
  for (const auto* list : {&set.train, &set.holdout})
    for (const auto& t : *list) {
      tune.push_back(domain->make_environment(t, rl::Split::Tune, list == &set.holdout));
      tune_names.push_back(t.name);
    }
  torch::manual_seed(o.seed);
  const int64_t slots = max_slots(o, *domain);
  LearnerState state(f, g, o.network, slots, sizes, std::min(o.ddpg.replay_capacity, o.steps));
  rl::soft_update(*state->target_actor, *state->actor, 1.0);
  rl::soft_update(*state->target_critic, *state->critic, 1.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(state->actor->parameters(), std::make_unique<torch::optim::AdamOptions>(o.ddpg.actor_lr));
  groups.emplace_back(state->critic->parameters(), std::make_unique<torch::optim::AdamOptions>(o.ddpg.critic_lr));
  torch::optim::Adam optimizer(std::move(groups), torch::optim::AdamOptions(o.ddpg.critic_lr));
  TaskSampler sampler(k_tasks, o.sampler);
  std::mt19937_64 rng(o.seed * 2654435761ULL + 1);
  auto policy = make_allocation_policy(state->actor);

  MtrlResult result;
  int64_t step = 0, episode = 0, current = 0, updates = 0;
  bool in_episode = false;
  double episode_return = 0;
  rl::Observation observation;
  const std::string metrics = run_dir + "/metrics.jsonl";
  bool restored = false;
  if (resume) {
    if (auto cp = load_latest_checkpoint(run_dir, *state, optimizer)) {
      try {
        const auto& x = cp->extra;
        rl::set_rng_state(rng, x.at("rng").get<std::string>());
        sampler.set_state(x.at("sampler"));
        const auto& n = x.at("noise");
        const auto& r = x.at("replay");
        if (n.size() != k_tasks || r.size() != k_tasks)
          throw Error(run_dir + "/checkpoints: the checkpoint has " + std::to_string(n.size()) + " tasks, this run " +
                      std::to_string(k_tasks));
        for (size_t k = 0; k < k_tasks; ++k) {
          noises[k].set_state(n[k]);
          state->replay[k]->set_state(r[k]);
        }
        current = x.at("current").get<int64_t>();
        in_episode = x.at("in_episode").get<bool>();
        episode_return = x.at("episode_return").get<double>();
        updates = x.at("updates").get<int64_t>();
        for (const auto& p : x.at("curve")) result.curve.push_back(eval_from_json(p));
        if (current < 0 || current >= static_cast<int64_t>(k_tasks))
          throw Error(run_dir + "/checkpoints: current task " + std::to_string(current) + " out of range");
        if (in_episode) {
          envs[static_cast<size_t>(current)]->set_state(x.at("env"));
          observation = envs[static_cast<size_t>(current)]->observe();
        }
      } catch (const nlohmann::json::exception& e) {
        throw Error(run_dir + "/checkpoints: state.json: " + e.what());
      }
      step = cp->step;
      episode = cp->epoch;
      truncate_jsonl_to_step(metrics, step);
      restored = true;
      if (o.progress) std::cerr << "loom mtrl: resumed from step " << step << "\n";
    }
  }
  if (!restored) write_file_atomic(metrics, "");

  auto evaluate_now = [&]() {
    EvalPoint p;
    p.step = step;
    double train_sum = 0, holdout_sum = 0;
    for (size_t k = 0; k < tune.size(); ++k) {
      const double v = rl::evaluate_return(*tune[k], *policy, o.seed);
      p.returns[tune_names[k]] = v;
      (k < k_tasks ? train_sum : holdout_sum) += v;
    }
    p.train_mean = train_sum / static_cast<double>(k_tasks);
    p.holdout_mean = set.holdout.empty() ? 0.0 : holdout_sum / static_cast<double>(set.holdout.size());
    result.curve.push_back(p);
    append_jsonl(metrics, eval_json(p));
    if (o.progress)
      std::cerr << "loom mtrl: step " << step << "  tune return " << p.train_mean << " (train tasks), "
                << p.holdout_mean << " (held out)\n";
  };

  // One DDPG update from task j's buffer, weighted by its importance weight.
  auto update = [&](size_t j, const std::vector<bool>& eligible) {
    auto& s = *state;
    const rl::TransitionBatch b = s.replay[j]->sample(o.ddpg.batch_size, rng);
    const double w = sampler.importance_weight(j, eligible);
    torch::Tensor target;
    {
      torch::NoGradGuard no_grad;
      auto next_q = s.target_critic->forward(b.next_observations, s.target_actor->act(b.next_observations));
      target = b.rewards + o.ddpg.gamma * (1 - b.terminals) * next_q;
    }
    rl::clear_gradients(s);
    auto td = s.critic->forward(b.observations, b.actions) - target;
    auto td_loss = td.pow(2).mean();
    (w * td_loss).backward();
    if (o.ddpg.grad_clip > 0) torch::nn::utils::clip_grad_norm_(s.critic->parameters(), o.ddpg.grad_clip);
    optimizer.step();
    rl::clear_gradients(s);
    auto actor_loss = -w * s.critic->forward(b.observations, s.actor->act(b.observations)).mean();
    actor_loss.backward();
    rl::clear_gradients(*s.critic);  // the actor's loss reaches the critic too; only the actor steps
    if (o.ddpg.grad_clip > 0) torch::nn::utils::clip_grad_norm_(s.actor->parameters(), o.ddpg.grad_clip);
    optimizer.step();
    rl::soft_update(*s.target_actor, *s.actor, o.ddpg.tau);
    rl::soft_update(*s.target_critic, *s.critic, o.ddpg.tau);
    sampler.observe(j, td_loss.item<double>());
    ++updates;
  };

  const auto start = std::chrono::steady_clock::now();
  const int64_t first = step;
  while (step < o.steps && (o.stop_after <= 0 || step - first < o.stop_after)) {
    if (!in_episode) {
      current = static_cast<int64_t>(sampler.draw(rng));
      noises[static_cast<size_t>(current)].reset();
      observation = envs[static_cast<size_t>(current)]->reset(episode_seed(o.seed, episode));
      episode_return = 0;
      in_episode = true;
    }
    const auto k = static_cast<size_t>(current);
    auto& env = *envs[k];
    std::vector<double> action;
    if (step < o.ddpg.warmup_steps) {
      std::exponential_distribution<double> e(1.0);  // normalised: uniform on the simplex
      action.resize(static_cast<size_t>(sizes[k].second));
      double sum = 0;
      for (double& v : action) sum += (v = e(rng));
      for (double& v : action) v /= sum;
    } else {
      torch::NoGradGuard no_grad;
      auto raw = state->actor->forward(rl::observation_batch({observation}, sizes[k].first));
      auto n = torch::tensor(noises[k].sample(rng, step), torch::kFloat64).to(torch::kFloat32).unsqueeze(0);
      action = to_allocation(allocation_softmax(raw + n)[0]);
    }
    rl::StepResult r = env.step(action);
    state->replay[k]->add(observation, action, r.reward, r.cost, r.observation, r.done);
    ++step;
    episode_return += r.reward;
    if (step > o.ddpg.warmup_steps) {
      std::vector<bool> eligible(k_tasks);
      int64_t stored = 0;
      for (size_t j = 0; j < k_tasks; ++j) {
        eligible[j] = state->replay[j]->size() > 0;
        stored += state->replay[j]->size();
      }
      if (stored >= o.ddpg.batch_size)
        for (int64_t u = 0; u < o.ddpg.updates_per_step; ++u) update(sampler.draw(rng, eligible), eligible);
    }
    if (r.done) {
      append_jsonl(
          metrics,
          {{"step", step}, {"episode", episode}, {"task", set.train[k].name}, {"episode_return", episode_return}});
      ++episode;
      in_episode = false;
    } else {
      observation = r.observation;
    }
    if ((o.eval_every > 0 && step % o.eval_every == 0) || step == o.steps) evaluate_now();
    if (step % o.checkpoint_every == 0 || step == o.steps) {
      nlohmann::json noise = nlohmann::json::array(), replay = nlohmann::json::array(), curve = nlohmann::json::array();
      for (size_t j = 0; j < k_tasks; ++j) {
        noise.push_back(noises[j].state());
        replay.push_back(state->replay[j]->state());
      }
      for (const auto& p : result.curve) curve.push_back(eval_json(p));
      nlohmann::json extra = {{"rng", rl::rng_state(rng)},
                              {"sampler", sampler.state()},
                              {"noise", noise},
                              {"replay", replay},
                              {"current", current},
                              {"in_episode", in_episode},
                              {"env", in_episode ? envs[static_cast<size_t>(current)]->state() : nlohmann::json()},
                              {"episode_return", episode_return},
                              {"updates", updates},
                              {"curve", curve}};
      save_checkpoint(run_dir, CheckpointState{step, episode, 0, extra, ""}, *state, optimizer, o.keep_checkpoints);
    }
  }
  result.steps = step;
  result.episodes = episode;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.task_draws = sampler.draws();
  if (step >= o.steps) save_allocation_policy(run_dir + "/policy", state->actor);
  return result;
}

void save_allocation_policy(const std::string& dir, const AllocationActor& actor) {
  make_dirs(dir);
  NamedTensors tensors;
  for (const auto& p : actor->named_parameters()) tensors.push_back({p.key(), p.value().detach().clone()});
  save_tensors(dir + "/actor.safetensors", tensors);
  // The network's keys as the schema writes them, so that loading reads them back through it.
  nlohmann::json options = nlohmann::json::object();
  for (const auto& spec : allocation_network_options_schema().specs(actor->options()))
    options[spec.name] = spec.default_value;
  nlohmann::json j = {{"format", "loom-mtrl-policy"},    {"version", 1},
                      {"features", actor->features()},   {"global", actor->global()},
                      {"slots", actor->max_resources()}, {"network", options}};
  write_file_atomic(dir + "/policy.json", j.dump(2));
}

AllocationActor load_allocation_actor(const std::string& dir, int64_t features, int64_t global) {
  const std::string path = dir + "/policy.json";
  const nlohmann::json j = read_json_file(path);
  AllocationNetworkOptions net;
  int64_t slots = 0;
  try {
    if (j.at("format").get<std::string>() != "loom-mtrl-policy")
      throw Error(path + ": format is '" + j.at("format").get<std::string>() + "', expected 'loom-mtrl-policy'");
    if (j.at("features").get<int64_t>() != features || j.at("global").get<int64_t>() != global)
      throw Error(path + ": the policy reads " + std::to_string(j.at("features").get<int64_t>()) +
                  " features per resource and " + std::to_string(j.at("global").get<int64_t>()) +
                  " global ones; this domain has " + std::to_string(features) + " and " + std::to_string(global));
    slots = j.at("slots").get<int64_t>();
    Params p(allocation_network_options_schema().specs());
    for (const auto& [key, value] : j.at("network").items()) p.set(key, value.get<std::string>(), path);
    net = allocation_network_options_schema().read(p);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
  AllocationActor actor(features, global, net, slots);
  const std::string weights = dir + "/actor.safetensors";
  copy_tensors_strict(actor->named_parameters(), load_tensors(weights), weights);
  return actor;
}

namespace {

// The tasks options.eval_tasks names (all when empty), checked by name.
std::vector<const Task*> chosen_tasks(const MtrlOptions& o, const TaskSet& set) {
  std::vector<const Task*> chosen;
  if (o.eval_tasks.empty()) {
    for (const auto* list : {&set.train, &set.holdout})
      for (const auto& t : *list) chosen.push_back(&t);
  } else {
    for (const auto& name : o.eval_tasks) chosen.push_back(&set.find(name, "eval_tasks"));
  }
  return chosen;
}

std::map<std::string, double> evaluate_on(const MtrlOptions& o, const TaskDomain& domain, const TaskSet& set,
                                          rl::Policy& policy) {
  const rl::Split split = o.split == "train" ? rl::Split::Train : o.split == "tune" ? rl::Split::Tune : rl::Split::Test;
  std::map<std::string, double> out;
  for (const Task* t : chosen_tasks(o, set)) {
    bool held_out = false;
    for (const auto& h : set.holdout) held_out = held_out || h.name == t->name;
    auto env = domain.make_environment(*t, split, held_out);
    out[t->name] = rl::evaluate_return(*env, policy, o.seed);
  }
  return out;
}

}  // namespace

std::map<std::string, double> evaluate_tasks(const MtrlOptions& o, rl::Policy& policy) {
  auto domain = make_domain(o.domain);
  return evaluate_on(o, *domain, make_task_set(domain->universe(), o.tasks), policy);
}

std::map<std::string, double> evaluate_mtrl(const MtrlOptions& o) {
  auto domain = make_domain(o.domain);
  const TaskSet set = make_task_set(domain->universe(), o.tasks);
  chosen_tasks(o, set);  // unknown task names fail before the policy is read
  AllocationActor actor = load_allocation_actor(o.policy.empty() ? o.out + "/policy" : o.policy,
                                                domain->resource_features(), domain->global_features());
  auto policy = make_allocation_policy(actor);
  return evaluate_on(o, *domain, set, *policy);
}

namespace {
// The same share for cash and every resource, whatever the state: uniform
// constant rebalancing in the portfolio domain.
class UniformPolicy : public rl::Policy {
 public:
  std::vector<std::vector<double>> act_batch(const std::vector<rl::Observation>& observations) override {
    std::vector<std::vector<double>> out;
    for (const auto& o : observations) {
      const auto n = static_cast<size_t>((static_cast<int64_t>(o.size()) - global_) / features_);
      out.emplace_back(n + 1, 1.0 / static_cast<double>(n + 1));
    }
    return out;
  }
  int64_t features_ = 1, global_ = 0;
};
}  // namespace

std::map<std::string, double> evaluate_uniform(const MtrlOptions& o) {
  auto domain = make_domain(o.domain);
  UniformPolicy policy;
  policy.features_ = domain->resource_features();
  policy.global_ = domain->global_features();
  return evaluate_tasks(o, policy);
}

}  // namespace loom::mtrl
