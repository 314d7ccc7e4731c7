#include "loom/nn/mlp.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include "loom/core/error.h"

namespace loom {

namespace {

const std::vector<std::pair<Activation, const char*>>& activation_table() {
  static const std::vector<std::pair<Activation, const char*>> table = {
      {Activation::None, "none"},        {Activation::ReLU, "relu"}, {Activation::Tanh, "tanh"},
      {Activation::Sigmoid, "sigmoid"},  {Activation::SiLU, "silu"}, {Activation::GELU, "gelu"},
      {Activation::Softplus, "softplus"}};
  return table;
}

}  // namespace

Activation activation_from_name(const std::string& name, const std::string& origin) {
  std::string valid;
  for (const auto& [a, n] : activation_table()) {
    if (name == n) return a;
    valid += (valid.empty() ? "" : ", ") + std::string(n);
  }
  throw Error(origin + ": unknown activation '" + name + "'; valid: " + valid);
}

const char* activation_name(Activation activation) {
  for (const auto& [a, n] : activation_table())
    if (a == activation) return n;
  return "?";
}

torch::Tensor apply_activation(Activation activation, const torch::Tensor& x) {
  switch (activation) {
    case Activation::None: return x;
    case Activation::ReLU: return torch::relu(x);
    case Activation::Tanh: return torch::tanh(x);
    case Activation::Sigmoid: return torch::sigmoid(x);
    case Activation::SiLU: return torch::silu(x);
    case Activation::GELU: return torch::gelu(x);
    case Activation::Softplus: return torch::softplus(x);
  }
  return x;
}

namespace {

// Activations as modules, so that the Sequential's parameter order and names
// are those of the plain torch::nn::Sequential{Linear, ReLU, Linear} this
// replaces (the federated-learning model's flat vector depends on it).
class ActivationLayerImpl : public torch::nn::Module {
 public:
  explicit ActivationLayerImpl(Activation a) : a_(a) {}
  torch::Tensor forward(const torch::Tensor& x) { return apply_activation(a_, x); }

 private:
  Activation a_;
};
TORCH_MODULE(ActivationLayer);

}  // namespace

MlpImpl::MlpImpl(const MlpOptions& options) : options_(options) {
  if (options.layer_sizes.size() < 2) throw Error("an MLP needs at least an input and an output size");
  for (int64_t size : options.layer_sizes)
    if (size < 1) throw Error("MLP layer sizes must be positive, got " + std::to_string(size));
  net = register_module("net", torch::nn::Sequential());
  const size_t n = options.layer_sizes.size();
  for (size_t i = 0; i + 1 < n; ++i) {
    net->push_back(torch::nn::Linear(options.layer_sizes[i], options.layer_sizes[i + 1]));
    const Activation a = i + 2 < n ? options.hidden_activation : options.output_activation;
    if (a != Activation::None) net->push_back(ActivationLayer(a));
  }
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return net->forward(x); }

}  // namespace loom
