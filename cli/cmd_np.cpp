// loom np: neural-progressive hedging (docs/np.md). `train` fits a policy
// (DDPG, TD3, PPO-Lagrangian) on an environment's training split; `evaluate`
// runs NP and the baselines on its held-out episodes and writes their
// metrics.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/dist/communicator.h"
#include "loom/rl/agent.h"
#include "loom/rl/evaluate.h"
#include "loom/rl/networks.h"
#include "loom/rl/portfolio.h"
#include "loom/rl/progressive_hedging.h"
#include "loom/rl/trainer.h"

namespace loom::cli {
namespace {

using namespace loom::rl;

struct NpOptions {
  std::string env = "portfolio";
  std::string out;
  std::string policy;
  std::vector<std::string> methods = {"policy", "policy_h", "np", "sp", "ef"};
  std::string split = "test";
  bool resume = false;
  int64_t warm_steps = 5;
  int64_t repeats = 3;
  int64_t olmar_window = 5;
  double olmar_epsilon = 10;
  RlTrainOptions train;
  ScenarioOptions tree;
  PhOptions ph;
  DistOptions dist;
};

const ParamSchema<NpOptions>& np_schema() {
  using O = NpOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("env", &O::env, "environment: portfolio or bikes")
        .add("out", &O::out, "train: the run directory; evaluate: the results JSON")
        .add("policy", &O::policy,
             "a policy directory (RUN/best or RUN/policy of np train), or ucrp or olmar (portfolio)")
        .add("methods", &O::methods, "evaluate: methods, comma-separated (policy, policy_h, np, sp, ef, ucrp, olmar)")
        .add("split", &O::split, "evaluate: the split whose episodes are run (test or tune)")
        .one_of({"test", "tune"})
        .add("resume", &O::resume, "train: continue from the run directory's latest checkpoint")
        .add("warm_steps", &O::warm_steps, "latency: steps of a uniform allocation before the timed decision", {0, 1e6})
        .add("repeats", &O::repeats, "latency: timed decisions (seeds 0..repeats-1)", {1, 1e6})
        .add("olmar_window", &O::olmar_window, "OLMAR's moving-average window (days)", {1, 1000})
        .add("olmar_epsilon", &O::olmar_epsilon, "OLMAR's reversion threshold ε", {0, 1e6})
        .include<RlTrainOptions>(rl_train_options_schema(), [](O& o) -> RlTrainOptions& { return o.train; })
        .include<ScenarioOptions>(scenario_options_schema(), [](O& o) -> ScenarioOptions& { return o.tree; })
        .include<PhOptions>(ph_options_schema(), [](O& o) -> PhOptions& { return o.ph; })
        .include<DistOptions>(dist_options_schema(), [](O& o) -> DistOptions& { return o.dist; });
    return s;
  }();
  return schema;
}

// The command's own keys, then the environments', algorithms' and networks'.
std::vector<ParamSpec> np_specs() {
  std::vector<ParamSpec> specs = np_schema().specs();
  for (const auto& more : {environment_param_specs(), algorithm_param_specs(), network_options_schema().specs()})
    specs.insert(specs.end(), more.begin(), more.end());
  return specs;
}

void with_resolved(CLI::App* sub, std::function<void(const NpOptions&, const Params&)> run) {
  auto flags = std::make_shared<ParamFlags>(sub, np_specs());
  sub->callback([flags, run] {
    Params p = flags->resolve();
    if (flags->dump_requested()) {
      std::cout << p.dump_yaml();
      return;
    }
    run(np_schema().read(p), p);
  });
}

// --policy: a policy directory, or one of the fixed portfolio strategies.
std::unique_ptr<Policy> policy_of(const NpOptions& o, const Environment& env) {
  if (o.policy.empty()) return nullptr;
  if (o.policy == "ucrp" || o.policy == "olmar") {
    const auto* p = dynamic_cast<const PortfolioEnv*>(&env);
    if (!p) throw Error("--policy " + o.policy + " is a portfolio strategy; env is " + env.name());
    return o.policy == "ucrp" ? make_ucrp_policy(*p) : make_olmar_policy(*p, o.olmar_window, o.olmar_epsilon);
  }
  return load_policy(o.policy, env.observation_spec(), env.action_spec());
}

void train(const NpOptions& o, const Params& p) {
  if (o.out.empty()) throw Error("np train: --out (the run directory) is required");
  auto env = make_environment(o.env, p, Split::Train);
  auto tune = make_environment(o.env, p, Split::Tune);
  make_dirs(o.out);
  write_file_atomic(o.out + "/config.yaml", p.dump_yaml());
  const TrainSummary s = train_agent(*env, tune.get(), p, o.train, o.out, o.resume);
  std::cout << nlohmann::json({{"out", o.out},
                               {"steps", s.steps},
                               {"episodes", s.episodes},
                               {"seconds", s.seconds},
                               {"final_tune_return", s.final_tune_return},
                               {"best_tune_return", s.best_tune_return},
                               {"best_step", s.best_step}})
                   .dump()
            << "\n";
}

void evaluate(const NpOptions& o, const Params& p) {
  if (o.dist.nproc > 1) std::exit(launch_local_workers(program_args(), o.dist.nproc, o.dist.master_port));
  auto comm = Communicator::create(o.dist);
  auto env = make_environment(o.env, p, o.split == "tune" ? Split::Tune : Split::Test);
  std::unique_ptr<Policy> policy = policy_of(o, *env);
  MethodContext ctx;
  ctx.policy = policy.get();
  ctx.tree = o.tree;
  ctx.ph = o.ph;
  ctx.communicator = comm.get();
  ctx.olmar_window = o.olmar_window;
  ctx.olmar_epsilon = o.olmar_epsilon;
  for (const auto& m : o.methods) methods().get(m, "methods");  // every name checked before any run
  nlohmann::json results = {{"env", o.env},
                            {"policy", o.policy},
                            {"seed", o.train.seed},
                            {"split", o.split},
                            {"processes", comm->world_size()}};
  for (const auto& m : o.methods) {
    const MethodRun run = run_method(*env, m, ctx, o.train.seed);
    nlohmann::json j = metrics_json(run.metrics);
    std::vector<double> totals;
    for (const auto& e : run.episodes) {
      double t = 0;
      for (double r : e.rewards) t += r;
      totals.push_back(t);
    }
    j["episode_rewards"] = totals;
    results["methods"][m] = j;
    if (comm->rank() == 0) std::cerr << "np evaluate: " << m << " " << metrics_json(run.metrics).dump() << "\n";
  }
  if (comm->rank() != 0) return;
  if (!o.out.empty()) write_file_atomic(o.out, results.dump(1) + "\n");
  std::cout << results.dump() << "\n";
}

// One decision timed: the extensive form against PH (the config's κ), after
// warm_steps of a uniform allocation on the first test episode.
void latency(const NpOptions& o, const Params& p) {
  if (o.dist.nproc > 1) std::exit(launch_local_workers(program_args(), o.dist.nproc, o.dist.master_port));
  auto comm = Communicator::create(o.dist);
  auto env = make_environment(o.env, p, Split::Test);
  std::unique_ptr<Policy> policy = policy_of(o, *env);
  env->reset(o.train.seed, 0);
  const std::vector<double> uniform(static_cast<size_t>(env->action_spec().size),
                                    1.0 / static_cast<double>(env->action_spec().size));
  for (int64_t k = 0; k < o.warm_steps; ++k)
    if (env->step(project(env->constraints(), uniform)).done) throw Error("np latency: warm_steps ends the episode");
  nlohmann::json runs = nlohmann::json::array();
  for (int64_t r = 0; r < o.repeats; ++r) {
    DecisionBenchmark b =
        benchmark_decision(*env, policy.get(), o.tree, o.ph, o.train.seed + static_cast<uint64_t>(r), comm.get());
    b.processes = comm->world_size();
    runs.push_back(benchmark_json(b));
  }
  if (comm->rank() != 0) return;
  const nlohmann::json out = {{"env", o.env},
                              {"scenarios", o.tree.scenarios},
                              {"horizon", o.tree.horizon},
                              {"action_size", env->action_spec().size},
                              {"processes", comm->world_size()},
                              {"runs", runs}};
  if (!o.out.empty()) write_file_atomic(o.out, out.dump(1) + "\n");
  std::cout << out.dump() << "\n";
}

}  // namespace

void setup_np(CLI::App* sub) {
  sub->require_subcommand(1);
  with_resolved(sub->add_subcommand("train", "train a policy (ddpg, td3, ppo_lagrangian) on the training split"),
                train);
  with_resolved(sub->add_subcommand("evaluate", "run NP and the baselines on the held-out episodes"), evaluate);
  with_resolved(sub->add_subcommand("latency", "time one decision: the extensive form against progressive hedging"),
                latency);
}

}  // namespace loom::cli
