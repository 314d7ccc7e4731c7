#include "loom/tensor/tensor_io.h"

#include <cstring>

#include "loom/core/error.h"
#include "loom/core/safetensors.h"

namespace loom {

namespace {

safetensors::DType to_st_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return safetensors::DType::F32;
    case torch::kDouble: return safetensors::DType::F64;
    case torch::kHalf: return safetensors::DType::F16;
    case torch::kBFloat16: return safetensors::DType::BF16;
    case torch::kLong: return safetensors::DType::I64;
    case torch::kInt: return safetensors::DType::I32;
    case torch::kByte: return safetensors::DType::U8;
    case torch::kBool: return safetensors::DType::BOOL;
    default: throw Error(std::string("cannot store tensors of type ") + c10::toString(t));
  }
}

torch::ScalarType to_torch_dtype(safetensors::DType t, const std::string& name) {
  switch (t) {
    case safetensors::DType::F32: return torch::kFloat;
    case safetensors::DType::F64: return torch::kDouble;
    case safetensors::DType::F16: return torch::kHalf;
    case safetensors::DType::BF16: return torch::kBFloat16;
    case safetensors::DType::I64: return torch::kLong;
    case safetensors::DType::I32: return torch::kInt;
    case safetensors::DType::I16: return torch::kShort;
    case safetensors::DType::I8: return torch::kChar;
    case safetensors::DType::U8: return torch::kByte;
    case safetensors::DType::BOOL: return torch::kBool;
  }
  throw Error("tensor '" + name + "': unsupported dtype");
}

}  // namespace

void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;  // contiguous copies must outlive serialisation
  std::vector<safetensors::TensorData> data;
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().contiguous().cpu());
    const auto& c = keep.back();
    data.push_back({name, to_st_dtype(c.scalar_type()), c.sizes().vec(), c.data_ptr(),
                    static_cast<size_t>(c.numel()) * c.element_size()});
  }
  safetensors::write(path, data, metadata);
}

std::map<std::string, torch::Tensor> load_tensors(const std::string& path) {
  auto file = safetensors::File::read(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& view : file.tensors()) {
    auto t = torch::empty(view.shape, to_torch_dtype(view.dtype, view.name));
    if (view.nbytes) std::memcpy(t.data_ptr(), view.data, view.nbytes);
    out[view.name] = t;
  }
  return out;
}

void copy_tensors_strict(const torch::OrderedDict<std::string, torch::Tensor>& parameters,
                         const std::map<std::string, torch::Tensor>& tensors, const std::string& origin) {
  torch::NoGradGuard no_grad;
  for (const auto& p : parameters) {
    auto it = tensors.find(p.key());
    if (it == tensors.end()) throw Error(origin + ": missing tensor '" + p.key() + "'");
    if (it->second.sizes() != p.value().sizes())
      throw Error(origin + ": tensor '" + p.key() + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                  c10::str(p.value().sizes()));
    torch::Tensor destination = p.value();
    destination.copy_(it->second);
  }
  for (const auto& [name, t] : tensors)
    if (!parameters.contains(name)) throw Error(origin + ": unexpected tensor '" + name + "'");
}

}  // namespace loom
