// A plain multilayer perceptron (Linear + activation, ..., Linear), for the
// small networks of federated learning and reinforcement learning. Weights
// use LibTorch's default initialisation under the caller's torch seed.
//
//   loom::Mlp net(loom::MlpOptions{{784, 128, 10}});
//   auto logits = net(images);
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace loom {

enum class Activation { None, ReLU, Tanh, Sigmoid, SiLU, GELU, Softplus };
// "relu", "tanh", ...; unknown names are an error listing the valid ones.
Activation activation_from_name(const std::string& name, const std::string& origin);
const char* activation_name(Activation activation);
torch::Tensor apply_activation(Activation activation, const torch::Tensor& x);

struct MlpOptions {
  std::vector<int64_t> layer_sizes;  // input, hidden..., output: at least two
  Activation hidden_activation = Activation::ReLU;
  Activation output_activation = Activation::None;
};

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const MlpOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  const MlpOptions& options() const { return options_; }
  // Registered as "net": Linear "0", activation "1", Linear "2", ...
  torch::nn::Sequential net{nullptr};

 private:
  MlpOptions options_;
};
TORCH_MODULE(Mlp);

}  // namespace loom
