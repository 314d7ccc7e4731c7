// The TOFA experiment behind docs/tofa.md (`loom tofa experiment`): one
// source supernet pretrained on Fashion-MNIST classes 0-4 (shared starting
// point), then per seed, on the small target set:
//   tofa       the supernet adapted once with the semi-supervised loss;
//              each scenario = a search under its budget, no fine-tuning;
//   tofa_no_u  the same without the unlabelled term (the semi-supervised gain);
//   ofa        OFA-style: that supervised supernet, then per scenario a
//              search and a fine-tune of the chosen subnet on the labels;
//   alone      the architecture TOFA chose, trained alone on the labels
//              from random initialisation (a few budgets only).
// Costs are process CPU seconds at a fixed thread count. Writes
// OUT/results.json, OUT/tables.md and OUT/accuracy_latency.png.
//
//   loom::TofaExperimentOptions o;               // tofa_experiment_schema()
//   nlohmann::json r = loom::run_tofa_experiment(o, "docs/tofa");
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/supernet/tofa.h"

namespace loom {

struct TofaExperimentOptions {
  TofaOptions tofa;
  std::vector<std::string> seeds = {"0", "1", "2"};
  int64_t scenarios = 20;  // latency budgets, evenly spaced between the smallest and the largest subnet
  std::vector<std::string> scenario_counts = {"1", "5", "20"};
  int64_t finetune_steps = 150;    // OFA baseline: fine-tuning steps per scenario
  int64_t alone_steps = 600;       // the alone baseline's training steps
  int64_t alone_budgets = 3;       // budgets (of the N = 5 set) with an alone baseline
  int64_t detailed_scenarios = 5;  // scenarios scored on test and timed again (the N = 5 set)
};
const ParamSchema<TofaExperimentOptions>& tofa_experiment_schema();

nlohmann::json run_tofa_experiment(const TofaExperimentOptions& options, const std::string& out_dir);

// OUT/tables.md and the plot from a results.json object (several seeds may
// come from separate runs: merge_tofa_results concatenates their seeds).
void write_tofa_report(const nlohmann::json& result, const std::string& out_dir);
nlohmann::json merge_tofa_results(const std::vector<std::string>& dirs);

}  // namespace loom
