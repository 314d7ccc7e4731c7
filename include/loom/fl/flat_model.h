// The model a federation shares, handled as one flat parameter vector: a
// loom::Mlp whose parameters (in registration order) are concatenated, so
// that updates are [d] tensors the aggregators can stack. Local training is
// plain SGD over the party's examples in a seeded order.
//
//   loom::fl::FlatModel model(loom::MlpOptions{{784, 128, 10}}, /*seed=*/0);
//   torch::Tensor update = model.local_update(model.initial(), party_data, {}, round, party_index);
//   double acc = model.accuracy(model.initial() + update, test_data);
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "loom/nn/mlp.h"

namespace loom::fl {

// Inputs [N, in] float and integer class labels [N] int64.
struct LabelledData {
  torch::Tensor inputs, labels;
};

struct LocalTraining {
  int64_t epochs = 1;
  int64_t batch_size = 32;
  double lr = 0.05;
  uint64_t seed = 0;  // with the round and the party, seeds the data order
};

class FlatModel {
 public:
  // Initialised by LibTorch's default initialisation under torch seed `seed`.
  FlatModel(const MlpOptions& layers, uint64_t seed);
  const torch::Tensor& initial() const { return initial_; }
  const std::vector<int64_t>& layer_sizes() const { return layer_sizes_; }
  int64_t size() const { return initial_.numel(); }
  // Local SGD from `global` over `data`; returns local - global. `stream`
  // (the party's index) and `round` pick the data order.
  torch::Tensor local_update(const torch::Tensor& global, const LabelledData& data, const LocalTraining& training,
                             uint64_t round, uint64_t stream);
  double accuracy(const torch::Tensor& global, const LabelledData& data);
  // Mean cross-entropy of `global` on `data`.
  double loss(const torch::Tensor& global, const LabelledData& data);

 private:
  void assign(const torch::Tensor& flat);

  Mlp net_{nullptr};
  torch::Tensor initial_;
  std::vector<int64_t> layer_sizes_;
};

}  // namespace loom::fl
