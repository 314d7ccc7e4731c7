#include "loom/rl/trainer.h"

#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/rl/agent.h"
#include "loom/train/checkpoint.h"
#include "rl_util.h"

namespace loom::rl {
namespace fs = std::filesystem;

const ParamSchema<RlTrainOptions>& rl_train_options_schema() {
  static const ParamSchema<RlTrainOptions> schema = [] {
    using O = RlTrainOptions;
    ParamSchema<O> s;
    s.add("algorithm", &O::algorithm, "RL algorithm: ddpg, td3 or ppo_lagrangian")
        .add("train_steps", &O::steps, "environment steps of policy training", {1, 1e10})
        .add("eval_every", &O::eval_every, "evaluate on the tuning split every this many steps (0: at the end)",
             {0, 1e10})
        .add("checkpoint_every", &O::checkpoint_every, "checkpoint every this many steps", {1, 1e10})
        .add("keep_checkpoints", &O::keep_checkpoints, "checkpoints kept", {1, 1000})
        .add("log_every", &O::log_every, "log losses every this many steps", {1, 1e10})
        .add("progress", &O::progress, "a progress line on a terminal")
        .add("seed", &O::seed, "seed of training, exploration and scenario sampling");
    return s;
  }();
  return schema;
}

double evaluate_return(Environment& env, Policy& policy, uint64_t seed) {
  double total = 0;
  const int64_t n = env.episodes();
  for (int64_t k = 0; k < n; ++k) {
    Observation o = env.reset(seed, k);
    for (;;) {
      StepResult r = env.step(policy.act(o));
      total += r.reward;
      if (r.done) break;
      o = r.observation;
    }
  }
  return total / static_cast<double>(n);
}

namespace {

std::string format_seconds(double s) {
  char buf[32];
  const auto t = static_cast<long long>(s);
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

uint64_t episode_seed(uint64_t seed, int64_t episode) { return seeded_stream(seed, 1000 + episode)(); }

}  // namespace

TrainSummary train_agent(Environment& env, Environment* tune, const Params& params, const RlTrainOptions& options,
                         const std::string& run_dir, bool resume) {
  make_dirs(run_dir);
  Params p = params;
  // The replay buffer never needs more room than the run has steps.
  for (const auto& spec : p.specs())
    if (spec.name == "replay_capacity" && p.get_int("replay_capacity") > options.steps)
      p.set("replay_capacity", std::to_string(options.steps), "train_steps");
  auto agent = make_agent(options.algorithm, p, env.observation_spec(), env.action_spec(), options.seed);
  auto policy = agent->policy();
  const std::string metrics = run_dir + "/metrics.jsonl";
  TrainSummary summary;
  int64_t step = 0;
  double episode_return = 0, episode_cost = 0;
  int64_t episode_steps = 0, episode_violations = 0;
  summary.best_tune_return = -INFINITY;
  Observation observation;
  // Losses of the updates since the last log line (their mean is logged).
  std::map<std::string, double> loss_sums;
  int64_t loss_count = 0;
  bool restored = false;
  if (resume) {
    if (auto state = load_latest_checkpoint(run_dir, agent->state_module(), agent->optimizer())) {
      try {
        const auto& x = state->extra;
        agent->set_extra_state(x.at("agent"));
        env.set_state(x.at("env"));
        episode_return = x.at("episode_return").get<double>();
        episode_cost = x.at("episode_cost").get<double>();
        episode_steps = x.at("episode_steps").get<int64_t>();
        episode_violations = x.at("episode_violations").get<int64_t>();
        summary.best_tune_return =
            x.at("best_tune_return").is_null() ? -INFINITY : x.at("best_tune_return").get<double>();
        summary.best_step = x.at("best_step").get<int64_t>();
        summary.final_tune_return = x.at("final_tune_return").get<double>();
        loss_sums = x.at("loss_sums").get<std::map<std::string, double>>();
        loss_count = x.at("loss_count").get<int64_t>();
      } catch (const nlohmann::json::exception& e) {
        throw Error(run_dir + "/checkpoints: state.json: " + e.what());
      }
      step = state->step;
      summary.episodes = state->epoch;
      observation = env.observe();
      truncate_jsonl_to_step(metrics, step);
      restored = true;
      if (options.progress) std::cerr << "loom: resumed from step " << step << "\n";
    }
  }
  if (!restored) {
    write_file_atomic(metrics, "");
    agent->start_episode();
    observation = env.reset(episode_seed(options.seed, 0));
  }
  const bool tty = options.progress && isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  const int64_t first = step;
  double last_episode_return = 0;
  while (step < options.steps && (options.stop_after <= 0 || step - first < options.stop_after)) {
    const std::vector<double> action = agent->explore(observation, step);
    StepResult r = env.step(action);
    agent->record({observation, action, r.reward, r.cost, r.observation, r.done, false});
    ++step;
    const auto losses = agent->learn(step);
    if (!losses.empty()) {
      for (const auto& [k, v] : losses) loss_sums[k] += v;
      ++loss_count;
    }
    episode_return += r.reward;
    episode_cost += r.cost;
    episode_violations += r.feasibility.feasible ? 0 : 1;
    ++episode_steps;
    if (r.done) {
      append_jsonl(metrics,
                   {{"step", step},
                    {"episode", summary.episodes},
                    {"episode_return", episode_return},
                    {"episode_cost", episode_cost},
                    {"violation_rate", static_cast<double>(episode_violations) / static_cast<double>(episode_steps)}});
      last_episode_return = episode_return;
      ++summary.episodes;
      episode_return = episode_cost = 0;
      episode_steps = episode_violations = 0;
      agent->start_episode();
      observation = env.reset(episode_seed(options.seed, summary.episodes));
    } else {
      observation = r.observation;
    }
    if (step % options.log_every == 0 && loss_count > 0) {
      nlohmann::json row = {{"step", step}, {"updates", loss_count}};
      for (const auto& [k, v] : loss_sums) row[k] = v / static_cast<double>(loss_count);
      append_jsonl(metrics, row);
      loss_sums.clear();
      loss_count = 0;
    }
    const bool eval_now = tune && ((options.eval_every > 0 && step % options.eval_every == 0) || step == options.steps);
    if (eval_now) {
      const double value = evaluate_return(*tune, *policy, options.seed);
      summary.final_tune_return = value;
      append_jsonl(metrics, {{"step", step}, {"tune_return", value}});
      if (value > summary.best_tune_return) {
        summary.best_tune_return = value;
        summary.best_step = step;
        save_policy(run_dir + "/best", agent->actor(), network_options_schema().read(p), options.algorithm);
      }
    }
    if (step % options.checkpoint_every == 0 || step == options.steps) {
      nlohmann::json extra = {
          {"agent", agent->extra_state()},
          {"env", env.state()},
          {"episode_return", episode_return},
          {"episode_cost", episode_cost},
          {"episode_steps", episode_steps},
          {"episode_violations", episode_violations},
          {"best_tune_return",
           std::isfinite(summary.best_tune_return) ? nlohmann::json(summary.best_tune_return) : nlohmann::json()},
          {"best_step", summary.best_step},
          {"final_tune_return", summary.final_tune_return},
          {"loss_sums", loss_sums},
          {"loss_count", loss_count}};
      save_checkpoint(run_dir, CheckpointState{step, summary.episodes, 0, extra, ""}, agent->state_module(),
                      agent->optimizer(), options.keep_checkpoints);
    }
    if (tty && (step % 100 == 0 || step == options.steps)) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double eta = elapsed / static_cast<double>(step - first) * static_cast<double>(options.steps - step);
      char line[200];
      std::snprintf(line, sizeof(line), "%s step %lld/%lld  episodes %lld  last return %.4f  ETA %s",
                    options.algorithm.c_str(), static_cast<long long>(step), static_cast<long long>(options.steps),
                    static_cast<long long>(summary.episodes), last_episode_return, format_seconds(eta).c_str());
      std::cerr << "\r" << line << "\033[K" << std::flush;
    }
  }
  if (tty) std::cerr << "\n";
  summary.steps = step;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (step >= options.steps) {
    save_policy(run_dir + "/policy", agent->actor(), network_options_schema().read(p), options.algorithm);
    if (!tune) save_policy(run_dir + "/best", agent->actor(), network_options_schema().read(p), options.algorithm);
  }
  return summary;
}

}  // namespace loom::rl
