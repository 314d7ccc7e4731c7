// Tensors <-> safetensors files, for every module that stores tensors
// (model directories, adapters, checkpoints, federated-learning state).
//
//   loom::save_tensors("w.safetensors", {{"weight", w}}, {{"format", "pt"}});
//   auto tensors = loom::load_tensors("w.safetensors");   // name -> tensor
#pragma once
#include <torch/ordered_dict.h>
#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace loom {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// F32/F64/F16/BF16/I64/I32/U8/BOOL are written; I16/I8 are read too.
void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata = {});
std::map<std::string, torch::Tensor> load_tensors(const std::string& path);

// Copies `tensors` (read from `origin`) into `parameters` (a module's
// named_parameters()): each must be there with its shape, and none may be
// left over. Errors name the file and the tensor.
void copy_tensors_strict(const torch::OrderedDict<std::string, torch::Tensor>& parameters,
                         const std::map<std::string, torch::Tensor>& tensors, const std::string& origin);

}  // namespace loom
