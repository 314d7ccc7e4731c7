// Permutation-invariant multi-task RL for resource allocation (Cai, Lim and
// Wynter, arXiv 2102.09361; docs/mtrl.md). One allocation actor and one
// critic (mtrl/networks.h) learn from every task of a domain (mtrl/tasks.h):
// each episode runs on a task drawn by the prioritized sampler
// (mtrl/task_sampler.h), its transitions go to that task's replay buffer
// (rl/replay_buffer.h; tasks have different sizes), and each DDPG update
// draws a task by the same priorities, a batch from its buffer, and weighs
// the losses by the task's importance weight. The task's TD loss then
// updates its priority.
//
// The update is DDPG's (rl/agent.h's "ddpg": the same options and defaults,
// target networks, OU noise from rl/noise.h before the softmax); it lives
// here because rl's agent has one observation size, one buffer and no
// per-sample weights. Checkpoints use train/checkpoint.h, so a resumed run
// continues an uninterrupted one step for step.
//
//   RUN/metrics.jsonl          {"step", "task", "episode_return"} per episode;
//                              {"step", "eval": {task: return}, "train_mean", "holdout_mean"} per evaluation
//   RUN/checkpoints/step-N/    train/checkpoint.h's layout
//   RUN/policy/                policy.json + actor.safetensors
//
//   loom::mtrl::MtrlOptions o;  o.steps = 5000;
//   auto result = loom::mtrl::train_mtrl(o, "runs/mtrl", /*resume=*/false);
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/mtrl/networks.h"
#include "loom/mtrl/task_sampler.h"
#include "loom/mtrl/tasks.h"
#include "loom/rl/noise.h"
#include "loom/rl/policy.h"

namespace loom::mtrl {

// DDPG's keys and defaults (src/rl/algorithms/ddpg.cpp), with the replay
// capacity per task.
struct DdpgSettings {
  double actor_lr = 1e-4;
  double critic_lr = 1e-3;
  double gamma = 0.99;
  double tau = 0.005;
  int64_t batch_size = 64;
  int64_t replay_capacity = 100000;  // per task, capped at the run's steps
  int64_t warmup_steps = 1000;
  int64_t updates_per_step = 1;
  double grad_clip = 1.0;
  rl::NoiseOptions noise;
};

struct MtrlOptions {
  MtrlOptions() {}  // not an aggregate (GCC 12's false uninitialised-string warning, as in cmd_marl.cpp)
  DomainOptions domain;
  TaskSetOptions tasks;
  SamplerOptions sampler;
  AllocationNetworkOptions network;
  DdpgSettings ddpg;
  int64_t steps = 20000;      // environment steps, all tasks together
  int64_t eval_every = 2000;  // evaluate every task on the tuning split (0: at the end only)
  int64_t checkpoint_every = 5000;
  int64_t keep_checkpoints = 1;
  uint64_t seed = 0;
  int64_t threads = 1;
  bool progress = true;
  std::string out = "runs/mtrl";
  bool resume = false;
  // evaluate: the policy directory, the tasks (empty: all) and the split.
  std::string policy;
  std::vector<std::string> eval_tasks;
  std::string split = "test";
  std::vector<std::string> baselines;  // evaluate: uniform, and (meta_fl) FL aggregators on the same episodes
  int64_t stop_after = 0;              // stop after this many steps of this call (a test's interruption); not a key
};
const ParamSchema<MtrlOptions>& mtrl_options_schema();

struct EvalPoint {
  int64_t step = 0;
  std::map<std::string, double> returns;  // per task, on the tuning split
  double train_mean = 0, holdout_mean = 0;
};
struct MtrlResult {
  std::vector<EvalPoint> curve;
  int64_t steps = 0, episodes = 0;
  double seconds = 0;
  std::vector<int64_t> task_draws;  // the sampler's draws per training task
};

MtrlResult train_mtrl(const MtrlOptions& options, const std::string& run_dir, bool resume);

// A trained actor as an rl::Policy (softmax scores, renormalised in double).
std::unique_ptr<rl::Policy> make_allocation_policy(AllocationActor actor);
// RUN/policy: policy.json (format loom-mtrl-policy, the network options, F,
// G, the mlp's slots) and actor.safetensors; loading checks F and G.
void save_allocation_policy(const std::string& dir, const AllocationActor& actor);
AllocationActor load_allocation_actor(const std::string& dir, int64_t features, int64_t global);

// Mean return per task (the `split`'s episodes) of a saved policy: the
// tasks named in options.eval_tasks, or every training and held-out task.
std::map<std::string, double> evaluate_mtrl(const MtrlOptions& options);
// The same for any policy, and for the uniform allocation over cash and the
// resources (uniform constant rebalancing in the portfolio domain).
std::map<std::string, double> evaluate_tasks(const MtrlOptions& options, rl::Policy& policy);
std::map<std::string, double> evaluate_uniform(const MtrlOptions& options);

}  // namespace loom::mtrl
