// Merging models or LoRA adapters trained from one base, with the semantics
// of PEFT's merge_utils (the anchor users compare against):
//
//   task_arithmetic  Σ w_i τ_i
//   linear           Σ w_i τ_i / Σ w_i  (weights 1/N: a plain average)
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
//   majority_sign: total               # total | frequency
//   seed: 0                            # DARE's random drop
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "loom/models/llama/llama.h"
#include "loom/adapters/lora.h"

namespace loom {

enum class MergeMethod { TaskArithmetic, Linear, Ties, DareLinear, DareTies };
enum class LoraMergeMode { Delta, Peft };

MergeMethod merge_method_from_name(const std::string& name, const std::string& origin);
const char* merge_method_name(MergeMethod method);
LoraMergeMode lora_merge_mode_from_name(const std::string& name, const std::string& origin);

struct MergeOptions {
  MergeMethod method = MergeMethod::Linear;
  bool sign_by_frequency = false;  // TIES sign election: false = sign of the weighted sum ("total")
  uint64_t seed = 0;
};

// One tensor position across models: task tensors with their weights and densities.
torch::Tensor merge_task_tensors(const std::vector<torch::Tensor>& task_tensors, const std::vector<double>& weights,
                                 const std::vector<double>& densities, const MergeOptions& options,
                                 at::Generator& generator);

struct MergeInput {
  double weight = 1.0;
  double density = 1.0;
};

// base + merge(W_i - W_base) over every parameter. Models must share the base's
// architecture: the error names the differing config field or tensor.
void merge_models_into(LlamaForCausalLM& base, const std::vector<LlamaForCausalLM>& models,
                       const std::vector<MergeInput>& inputs, const MergeOptions& options);

// Adds the merged adapter deltas to `base`'s weights (exact ΔW = s·B·A).
void merge_adapter_deltas_into(LlamaForCausalLM& base, const std::vector<PeftAdapter>& adapters,
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
};

// Runs a merge: loads the base and every source (model dirs or adapter dirs,
// not mixed) and returns the merged dense model. With adapters and
// lora_merge: peft, *merged_adapter receives the merged PEFT adapter.
LlamaForCausalLM run_merge(const MergeSpec& spec, PeftAdapter* merged_adapter = nullptr);

// Throws unless `a` and `b` have the same architecture; names the field.
void require_same_architecture(const LlamaConfig& a, const LlamaConfig& b, const std::string& what);

}  // namespace loom
