// Training any registered RL algorithm on an environment: the interaction
// loop, periodic evaluation on the tuning split (the best policy is kept),
// metrics as JSON lines, a progress line, and checkpoints through the core's
// trainer format (train/checkpoint.h) with exact resume: the agent's networks,
// targets, replay buffer, optimizer, generators and noise, the environment's
// state and the episode counters all come back, so a resumed run continues
// the trajectory of an uninterrupted one step for step.
//
//   RUN/metrics.jsonl              {"step", "episode_return", ...} per episode; {"step", "tune_return"} per evaluation
//   RUN/checkpoints/step-N/...     train/checkpoint.h's layout
//   RUN/policy/, RUN/best/         the final and the best-on-tune policy (networks.h)
//
//   loom::rl::RlTrainOptions o;  o.algorithm = "td3";  o.steps = 20000;
//   auto summary = loom::rl::train_agent(*train_env, tune_env.get(), params, o, "runs/np/policy-0");
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "loom/core/param_schema.h"
#include "loom/rl/env.h"
#include "loom/rl/policy.h"

namespace loom::rl {

struct RlTrainOptions {
  std::string algorithm = "ddpg";
  int64_t steps = 20000;
  int64_t eval_every = 2000;  // evaluate on the tuning split every this many steps (0: at the end only)
  int64_t checkpoint_every = 5000;
  int64_t keep_checkpoints = 1;
  int64_t log_every = 500;
  bool progress = true;
  uint64_t seed = 0;
  // Stop after this many steps of this call (a test's interruption); 0 = run to `steps`.
  int64_t stop_after = 0;
};
const ParamSchema<RlTrainOptions>& rl_train_options_schema();

struct TrainSummary {
  int64_t steps = 0;
  int64_t episodes = 0;
  double seconds = 0;
  double final_tune_return = 0, best_tune_return = 0;
  int64_t best_step = 0;
};

// `params` holds the algorithm's and the network's keys. With `resume`, the
// latest checkpoint in run_dir (if any) is restored first.
TrainSummary train_agent(Environment& env, Environment* tune, const Params& params, const RlTrainOptions& options,
                         const std::string& run_dir, bool resume);

// Mean episode return of a policy over every episode of an environment's
// split (seeded), with no exploration.
double evaluate_return(Environment& env, Policy& policy, uint64_t seed);

}  // namespace loom::rl
