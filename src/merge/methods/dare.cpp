// DARE (Yu et al. 2023) with a plain weighted sum: drop each entry of a task
// vector with probability 1 - density, rescale the survivors by 1/density.
#include "loom/merge/merge.h"
#include "methods.h"

namespace loom {

void register_dare_merges(Registry<MergeMethodEntry>& r) {
  r.add("dare_linear", {"DARE random drop (rescaled by 1/density), then Σ w_i τ_i",
                        {"weight", "density"},
                        {"seed"},
                        [](const std::vector<torch::Tensor>& tensors, const std::vector<double>& weights,
                           const std::vector<double>& densities, const MergeOptions&, at::Generator& gen) {
                          std::vector<torch::Tensor> pruned;
                          for (size_t i = 0; i < tensors.size(); ++i)
                            pruned.push_back(random_prune(tensors[i], densities[i], gen));
                          return weighted_stack(pruned, weights).sum(0);
                        },
                        false});
}

}  // namespace loom
