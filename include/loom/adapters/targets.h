// Finding the linear layers an adapter (or a mixture of projections) attaches
// to, in any model, by PEFT's naming rule: a target `t` selects every
// loom::Linear whose full module name equals `t` or ends with ".t"
// ("q_proj" selects model.layers.N.self_attn.q_proj for every N);
// "all-linear" selects every loom::Linear (the output head is not one).
//
//   for (auto& [name, linear] : loom::find_linear_layers(*model, {"q_proj", "v_proj"})) ...
#pragma once
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loom/nn/linear.h"

namespace loom {

using NamedLinear = std::pair<std::string, std::shared_ptr<LinearImpl>>;

// Every loom::Linear of `model`, in registration order.
std::vector<NamedLinear> linear_layers(torch::nn::Module& model);
// Those the targets select, in registration order. A target that selects
// nothing is an error naming it and listing the model's linear layer names.
std::vector<NamedLinear> find_linear_layers(torch::nn::Module& model, const std::vector<std::string>& targets,
                                            const std::string& origin = "target_modules");
// The linear layer with exactly this module name, or an error naming `origin`.
std::shared_ptr<LinearImpl> linear_layer_named(torch::nn::Module& model, const std::string& name,
                                               const std::string& origin);
// The distinct last name components of the selected layers, in first-seen
// order ({"q_proj", "k_proj", ...}): how an adapter config records them.
std::vector<std::string> target_suffixes(const std::vector<NamedLinear>& layers);

}  // namespace loom
