#include "loom/fl/flat_model.h"

#include <algorithm>

#include "loom/core/dataset.h"
#include "loom/core/error.h"

namespace loom::fl {

FlatModel::FlatModel(const MlpOptions& layers, uint64_t seed) {
  net_ = Mlp(layers);
  // The layers draw their initial weights last layer first: the model this
  // replaced was torch::nn::Sequential(Linear(784, h), ReLU(), Linear(h, 10)),
  // whose arguments GCC constructs right to left, and keeping its draws keeps
  // every published FL result reproducible (now on any compiler).
  torch::manual_seed(seed);
  std::vector<torch::nn::Linear> linears;
  for (const auto& m : net_->net->children())
    if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(m)) linears.emplace_back(linear);
  for (auto it = linears.rbegin(); it != linears.rend(); ++it) (*it)->reset_parameters();
  std::vector<torch::Tensor> parts;
  for (auto& p : net_->parameters()) {
    parts.push_back(p.detach().flatten());
    layer_sizes_.push_back(p.numel());
  }
  initial_ = torch::cat(parts);
}

void FlatModel::assign(const torch::Tensor& flat) {
  if (flat.numel() != size())
    throw Error("model parameters: got " + std::to_string(flat.numel()) + " values for a model of " +
                std::to_string(size()));
  torch::NoGradGuard g;
  int64_t offset = 0;
  for (auto& p : net_->parameters()) {
    p.copy_(flat.slice(0, offset, offset + p.numel()).view_as(p));
    offset += p.numel();
  }
}

double FlatModel::accuracy(const torch::Tensor& global, const LabelledData& data) {
  torch::NoGradGuard g;
  assign(global);
  auto pred = net_->forward(data.inputs).argmax(1);
  return pred.eq(data.labels).to(torch::kDouble).mean().item<double>();
}

double FlatModel::loss(const torch::Tensor& global, const LabelledData& data) {
  torch::NoGradGuard g;
  assign(global);
  return torch::nn::functional::cross_entropy(net_->forward(data.inputs), data.labels).item<double>();
}

torch::Tensor FlatModel::local_update(const torch::Tensor& global, const LabelledData& data, const LocalTraining& o,
                                      uint64_t round, uint64_t stream) {
  assign(global);
  torch::optim::SGD opt(net_->parameters(), torch::optim::SGDOptions(o.lr));
  const int64_t n = data.inputs.size(0);
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    auto order =
        shuffled_indices(static_cast<size_t>(n), o.seed * 7919 + stream, round * 131 + static_cast<uint64_t>(epoch));
    auto idx = torch::tensor(std::vector<int64_t>(order.begin(), order.end()));
    for (int64_t s = 0; s < n; s += o.batch_size) {
      auto b = idx.slice(0, s, std::min(n, s + o.batch_size));
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(net_->forward(data.inputs.index_select(0, b)),
                                                       data.labels.index_select(0, b));
      loss.backward();
      opt.step();
    }
  }
  std::vector<torch::Tensor> parts;
  for (auto& p : net_->parameters()) parts.push_back(p.detach().flatten());
  return torch::cat(parts) - global;
}

}  // namespace loom::fl
