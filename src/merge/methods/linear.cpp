// task_arithmetic (Σ w_i τ_i) and linear (the same divided by Σ w_i): one
// method, normalised or not.
#include "loom/core/error.h"
#include "loom/merge/merge.h"
#include "methods.h"

namespace loom {

void register_linear_merges(Registry<MergeMethodEntry>& r) {
  auto linear = [](bool normalise) {
    return [normalise](const std::vector<torch::Tensor>& tensors, const std::vector<double>& weights,
                       const std::vector<double>&, const MergeOptions&, at::Generator&) {
      auto sum = weighted_stack(tensors, weights).sum(0);
      if (!normalise) return sum;
      double total = 0;
      for (double w : weights) total += w;
      if (total == 0) throw Error("merge: linear merge weights sum to zero");
      return sum / total;
    };
  };
  r.add("task_arithmetic", {"base + Σ w_i (W_i - W_base)", {"weight"}, {}, linear(false), false});
  r.add("linear",
        {"base + Σ w_i (W_i - W_base) / Σ w_i (weights 1/N: a plain average)", {"weight"}, {}, linear(true), true});
  r.add("average", {"alias of linear", {"weight"}, {}, linear(true), true});
}

}  // namespace loom
