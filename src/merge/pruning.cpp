// Pruning and combination steps the merge methods share.
#include "loom/core/error.h"
#include "loom/merge/merge.h"

namespace loom {

torch::Tensor magnitude_prune(const torch::Tensor& t, double density) {
  if (density >= 1.0) return t;
  const int64_t k = static_cast<int64_t>(density * static_cast<double>(t.numel()));
  auto mask = torch::zeros({t.numel()}, t.options());
  if (k > 0) mask.index_fill_(0, std::get<1>(t.abs().flatten().topk(k)), 1.0);
  return t * mask.view(t.sizes());
}

torch::Tensor random_prune(const torch::Tensor& t, double density, at::Generator& gen) {
  if (density >= 1.0) return t;
  if (density <= 0.0) return torch::zeros_like(t);
  auto keep = torch::empty_like(t).bernoulli_(density, gen);
  return t * keep / density;
}

torch::Tensor weighted_stack(const std::vector<torch::Tensor>& tensors, const std::vector<double>& weights) {
  if (tensors.empty()) throw Error("merge: no task tensors");
  auto w = torch::tensor(std::vector<float>(weights.begin(), weights.end()));
  std::vector<int64_t> shape = {static_cast<int64_t>(tensors.size())};
  for (int64_t d = 0; d < tensors[0].dim(); ++d) shape.push_back(1);
  return torch::stack(tensors) * w.view(shape);
}

torch::Tensor sign_elected_mean(const torch::Tensor& weighted, bool sign_by_frequency) {
  auto elect = sign_by_frequency ? weighted.sign().sum(0) : weighted.sum(0);
  auto majority = torch::where(elect >= 0, torch::ones_like(elect), -torch::ones_like(elect));
  auto agree = weighted.sign().eq(majority.unsqueeze(0)).to(weighted.scalar_type());
  return (weighted * agree).sum(0) / agree.sum(0).clamp_min(1.0);
}

}  // namespace loom
