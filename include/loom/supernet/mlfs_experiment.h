// The MLFS results of docs/supernet.md in one run (`loom supernet
// experiment`): for each seed, the teacher (stage 0) once, the MLFS
// supernet, its ablations, and the baselines, all scored on the same
// subnets:
//
//  - probe subnets: for each size budget (a fraction of the teacher's
//    parameters), the largest subnet of the space with the same shape in
//    every layer that fits; every method is scored on these;
//  - searched subnets: the best subnet under the same budget by evolutionary
//    search on validation, extracted to a model directory, reloaded and
//    scored on test (MLFS only);
//  - baselines at each probe size, with the steps of MLFS stages 1 + 2:
//    the same architecture from random initialisation (scratch), and the
//    importance-sliced teacher distilled from the teacher (Minitron-style);
//  - ablations: single-stage, γ = 0, no importance reordering, full
//    super-weights instead of LoRA (each a variant of the main options);
//  - γ tuned on seed 0's validation score over a grid;
//  - cost against the number of subnets delivered (MLFS: one supernet +
//    a search and an extraction per subnet; baseline: one prune + distil
//    per subnet), in process CPU seconds;
//  - decoders: the 2/3-size subnet initialised by slicing vs randomly,
//    trained alike, steps and seconds to a target validation loss.
//
// Writes OUT/results.json, OUT/results.md and plots; each run's directory
// stays under OUT/seed-N/.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/registry.h"
#include "loom/supernet/mlfs.h"

namespace loom {

struct MlfsExperimentOptions {
  MlfsOptions mlfs;
  std::vector<std::string> seeds = {"0", "1", "2"};
  std::vector<std::string> size_fractions = {"0.25", "0.4", "0.6", "0.8"};
  std::vector<std::string> ablations = {"single_stage", "gamma0", "no_reorder", "full_weights"};
  std::vector<std::string> gamma_grid = {"0", "0.5", "1"};  // tuned on seed 0; empty = mlfs.gamma as given
  std::vector<std::string> cost_counts = {"1", "4", "16"};  // empty = no cost table
  bool baselines = true;
  double baseline_alpha = 0.9;   // KD weight of the prune + distil baseline
  double init_fraction = 0.667;  // decoders: size of the slicing-vs-random subnet
  int64_t init_steps = 300, init_eval_every = 20;
  SearchOptions search;
};
const ParamSchema<MlfsExperimentOptions>& mlfs_experiment_schema();

// A variant of the main options, by name.
struct MlfsAblation {
  std::string help;
  std::function<void(MlfsOptions&)> apply;
};
Registry<MlfsAblation>& mlfs_ablations();

// The uniform subnet with the most parameters within `max_params` (more
// layers on ties); an error names the budget when none fits.
TransformerSpec probe_spec(ElasticTransformerImpl& model, const ElasticSpace& space, DepthRule rule, double max_params);

nlohmann::json run_mlfs_experiment(const MlfsExperimentOptions& options, const std::string& out_dir);

}  // namespace loom
