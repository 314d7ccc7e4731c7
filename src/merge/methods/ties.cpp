// TIES (Yadav et al. 2023) and its DARE variant: prune each task vector
// (by magnitude, or at random with rescaling), elect a sign per entry, and
// average the entries that agree with it. One method, two pruning rules.
#include "loom/merge/merge.h"
#include "methods.h"

namespace loom {

void register_ties_merges(Registry<MergeMethodEntry>& r) {
  auto ties = [](bool random_drop) {
    return [random_drop](const std::vector<torch::Tensor>& tensors, const std::vector<double>& weights,
                         const std::vector<double>& densities, const MergeOptions& options, at::Generator& gen) {
      std::vector<torch::Tensor> pruned;
      for (size_t i = 0; i < tensors.size(); ++i)
        pruned.push_back(random_drop ? random_prune(tensors[i], densities[i], gen)
                                     : magnitude_prune(tensors[i], densities[i]));
      return sign_elected_mean(weighted_stack(pruned, weights), options.sign_by_frequency);
    };
  };
  r.add("ties", {"magnitude-prune each task vector to density, elect signs, mean of agreeing entries",
                 {"weight", "density"},
                 {"majority_sign"},
                 ties(false),
                 false});
  r.add("dare_ties", {"DARE random drop (rescaled by 1/density), then TIES' sign election and mean",
                      {"weight", "density"},
                      {"majority_sign", "seed"},
                      ties(true),
                      false});
}

}  // namespace loom
