// loom mtrl: permutation-invariant multi-task RL for resource allocation
// (docs/mtrl.md). `train` learns one allocation policy from every task of a
// domain (asset subsets of a portfolio universe, party sets of a
// federation); `evaluate` runs a saved policy on any task, including
// held-out ones and subsets of another size.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_params.h"
#include "commands.h"
#include "loom/mtrl/meta_fl.h"
#include "loom/mtrl/mtrl.h"
#include "loom/tensor/threads.h"

namespace loom::cli {
namespace {

void train(const mtrl::MtrlOptions& o) {
  set_compute_threads(static_cast<int>(o.threads));
  const auto r = mtrl::train_mtrl(o, o.out, o.resume);
  const auto& last = r.curve.back();
  std::cout << nlohmann::json({{"steps", r.steps},
                               {"episodes", r.episodes},
                               {"seconds", r.seconds},
                               {"tune_return_train_tasks", last.train_mean},
                               {"tune_return_holdout_tasks", last.holdout_mean},
                               {"task_draws", r.task_draws},
                               {"policy", o.out + "/policy"}})
                   .dump()
            << "\n";
}

void evaluate(const mtrl::MtrlOptions& o) {
  set_compute_threads(static_cast<int>(o.threads));
  nlohmann::json out = {{"split", o.split}, {"returns", mtrl::evaluate_mtrl(o)}};
  std::vector<std::string> aggregators;
  for (const auto& name : o.baselines)
    if (name == "uniform")
      out["baselines"]["uniform"] = mtrl::evaluate_uniform(o);
    else
      aggregators.push_back(name);
  if (!aggregators.empty())
    for (const auto& [name, returns] : mtrl::evaluate_meta_fl_aggregators(o, aggregators))
      out["baselines"][name] = returns;
  std::cout << out.dump() << "\n";
}

}  // namespace

void setup_mtrl(CLI::App* sub) {
  sub->require_subcommand(1);
  run_with_options<mtrl::MtrlOptions>(
      sub->add_subcommand("train", "train one allocation policy on every task (multi-task DDPG)"),
      mtrl::mtrl_options_schema(), train);
  run_with_options<mtrl::MtrlOptions>(
      sub->add_subcommand("evaluate", "mean return per task of a saved policy (held-out tasks included)"),
      mtrl::mtrl_options_schema(), evaluate);
}

}  // namespace loom::cli
