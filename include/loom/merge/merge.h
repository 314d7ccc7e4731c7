// Merging models or LoRA adapters trained from one base, with the semantics
// of PEFT's merge_utils (the anchor users compare against). Methods live in
// a registry (merge_methods()), one file each under src/merge/methods/:
//
//   task_arithmetic  Σ w_i τ_i
//   linear           Σ w_i τ_i / Σ w_i  (weights 1/N: a plain average; alias average)
//   ties             magnitude-prune each τ_i to `density`, weight, elect the
//                    sign of Σ (or of Σ signs), mean over agreeing entries
//   dare_linear      drop entries with probability 1-density, rescale by
//                    1/density, Σ w_i τ_i
//   dare_ties        DARE pruning, then TIES' sign election and mean
//
// τ_i is a task vector: W_i - W_base for models, ΔW_i = s·B_i A_i for
// adapters (`lora_merge: delta`, exact), or the factors themselves with
// PEFT's add_weighted_adapter behaviour (`lora_merge: peft`): A and B are
// merged separately, each weighted by sqrt(w_i·s_i), so cross terms B_i A_j
// enter the product (see PAPERS.md §1 and PEFT #1155).
//
// A merge is described in YAML, in the spirit of mergekit:
//
//   merge_method: ties
//   base_model: runs/base/model
//   models:
//     - model: runs/a/model            # model directory or PEFT adapter directory
//       parameters: {weight: 1.0, density: 0.2}
//     - model: runs/b/adapter
//   parameters: {weight: 1.0, density: 0.2}   # defaults for every model
//   lora_merge: delta                  # delta | peft
//   majority_sign: total               # ties, dare_ties: total | frequency
//   seed: 0                            # dare_*: the random drop
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "loom/adapters/lora.h"
#include "loom/core/registry.h"
#include "loom/models/causal_lm.h"

namespace loom {

enum class LoraMergeMode { Delta, Peft };
LoraMergeMode lora_merge_mode_from_name(const std::string& name, const std::string& origin);

struct MergeOptions {
  std::string method = "linear";
  bool sign_by_frequency = false;  // TIES sign election: false = sign of the weighted sum ("total")
  uint64_t seed = 0;
};

// One tensor position across models: task tensors with their weights and densities.
using MergeFunction = std::function<torch::Tensor(
    const std::vector<torch::Tensor>& task_tensors, const std::vector<double>& weights,
    const std::vector<double>& densities, const MergeOptions& options, at::Generator& generator)>;

struct MergeMethodEntry {
  std::string help;
  // Keys a merge description may give for this method: per source (under
  // `parameters`) and for the whole merge (top level).
  std::vector<std::string> source_parameters;  // e.g. weight, density
  std::vector<std::string> method_options;     // e.g. majority_sign, seed
  MergeFunction merge;
  // Weights are normalised by their sum inside the method (linear): PEFT's
  // factor-wise merge then sums the pre-normalised weights instead.
  bool normalises_weights = false;
};
Registry<MergeMethodEntry>& merge_methods();

torch::Tensor merge_task_tensors(const std::vector<torch::Tensor>& task_tensors, const std::vector<double>& weights,
                                 const std::vector<double>& densities, const MergeOptions& options,
                                 at::Generator& generator);

// Pruning shared by the methods (src/merge/pruning.cpp).
// Keeps the int(density·n) largest magnitudes (PEFT: topk).
torch::Tensor magnitude_prune(const torch::Tensor& t, double density);
// Drops each entry with probability 1-density and rescales the survivors.
torch::Tensor random_prune(const torch::Tensor& t, double density, at::Generator& generator);
// Σ w_i t_i over stacked [n, ...] tensors.
torch::Tensor weighted_stack(const std::vector<torch::Tensor>& tensors, const std::vector<double>& weights);
// TIES' sign election and disjoint mean over weighted task tensors [n, ...].
torch::Tensor sign_elected_mean(const torch::Tensor& weighted, bool sign_by_frequency);

struct MergeInput {
  double weight = 1.0;
  double density = 1.0;
};

// base + merge(W_i - W_base) over every parameter. Models must share the
// base's architecture: the error names the differing config field or tensor.
void merge_models_into(CausalLMImpl& base, const std::vector<CausalLM>& models, const std::vector<MergeInput>& inputs,
                       const MergeOptions& options);

// Adds the merged adapter deltas to `base`'s weights (exact ΔW = s·B·A).
void merge_adapter_deltas_into(CausalLMImpl& base, const std::vector<PeftAdapter>& adapters,
                               const std::vector<MergeInput>& inputs, const MergeOptions& options);

// PEFT's add_weighted_adapter: one adapter of the common rank r with
// lora_alpha = r, A and B merged separately. Adapters must share r and targets.
PeftAdapter merge_adapters_peft(const std::vector<PeftAdapter>& adapters, const std::vector<MergeInput>& inputs,
                                const MergeOptions& options);

// A YAML merge description (see above), validated with errors naming file, line and key.
struct MergeSpec {
  std::string base_model;
  struct Source {
    std::string path;
    MergeInput input;
  };
  std::vector<Source> sources;
  MergeOptions options;
  LoraMergeMode lora_merge = LoraMergeMode::Delta;

  static MergeSpec load(const std::string& path);
  // The description with every default filled in, as YAML load() accepts.
  std::string to_yaml() const;
};

// Runs a merge: loads the base and every source (model dirs or adapter dirs,
// not mixed) and returns the merged dense model. With adapters and
// lora_merge: peft, *merged_adapter receives the merged PEFT adapter.
CausalLM run_merge(const MergeSpec& spec, PeftAdapter* merged_adapter = nullptr);

// Throws unless the two configs describe the same architecture (everything
// but special-token ids and bookkeeping); names the field.
void require_same_architecture(const nlohmann::json& base, const nlohmann::json& other, const std::string& what);

}  // namespace loom
