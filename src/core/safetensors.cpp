#include "loom/core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"

namespace loom::safetensors {
namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4},   {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4},   {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& entry : kDTypes)
    if (entry.dtype == dtype) return entry;
  throw Error("safetensors: unknown dtype enum");
}

// Multiplies with an overflow check; a header that lies about shapes must not
// wrap around into a small, plausible size.
bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

size_t dtype_size(DType dtype) { return info(dtype).size; }
const char* dtype_name(DType dtype) { return info(dtype).name; }

DType dtype_from_name(const std::string& name) {
  for (const auto& entry : kDTypes)
    if (name == entry.name) return entry.dtype;
  std::string valid;
  for (const auto& entry : kDTypes) valid += std::string(valid.empty() ? "" : ", ") + entry.name;
  throw Error("unknown safetensors dtype '" + name + "' (valid: " + valid + ")");
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

File File::read(const std::string& path) { return parse(read_file_bytes(path), path); }

File File::parse(std::vector<uint8_t> bytes, const std::string& origin) {
  auto fail = [&](const std::string& why) -> Error { return Error(origin + ": " + why); };
  if (bytes.size() < 8) throw fail("truncated: file is shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[static_cast<size_t>(i)];
  if (header_len > kMaxHeaderBytes)
    throw fail("header length " + std::to_string(header_len) + " exceeds the limit of " +
               std::to_string(kMaxHeaderBytes) + " bytes");
  if (header_len > bytes.size() - 8)
    throw fail("truncated: header length " + std::to_string(header_len) + " but only " +
               std::to_string(bytes.size() - 8) + " bytes follow");
  if (header_len < 2 || bytes[8] != '{') throw fail("header is not a JSON object");

  const char* header_begin = reinterpret_cast<const char*>(bytes.data()) + 8;
  const nlohmann::json header = parse_json(header_begin, header_begin + header_len, origin + ": header");
  if (!header.is_object()) throw fail("header is not a JSON object");

  File file;
  file.origin_ = origin;
  const uint64_t data_start = 8 + header_len;
  const uint64_t buffer_size = bytes.size() - data_start;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> entries;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) throw fail("__metadata__ must be an object of strings");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) throw fail("__metadata__['" + m.key() + "'] is not a string");
        file.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto tensor_fail = [&](const std::string& why) { return fail("tensor '" + name + "': " + why); };
    if (!entry.is_object()) throw tensor_fail("entry is not an object");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!entry.contains(key)) throw tensor_fail(std::string("missing field '") + key + "'");
    if (!entry["dtype"].is_string()) throw tensor_fail("dtype is not a string");
    TensorView view;
    view.name = name;
    try {
      view.dtype = dtype_from_name(entry["dtype"].get<std::string>());
    } catch (const Error& e) {
      throw tensor_fail(e.what());
    }
    const auto& shape = entry["shape"];
    if (!shape.is_array()) throw tensor_fail("shape is not an array");
    uint64_t numel = 1;
    for (const auto& dim : shape) {
      if (!dim.is_number_unsigned()) throw tensor_fail("shape has a negative or non-integer dimension");
      uint64_t d = dim.get<uint64_t>();
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) throw tensor_fail("dimension too large");
      if (!checked_mul(numel, d, &numel)) throw tensor_fail("shape overflows");
      view.shape.push_back(static_cast<int64_t>(d));
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw tensor_fail("data_offsets must be two non-negative integers");
    uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end) throw tensor_fail("data_offsets begin > end");
    if (end > buffer_size)
      throw tensor_fail("data_offsets end " + std::to_string(end) + " is past the data buffer (" +
                        std::to_string(buffer_size) + " bytes)");
    uint64_t expected = 0;
    if (!checked_mul(numel, dtype_size(view.dtype), &expected) || expected != end - begin)
      throw tensor_fail("byte size " + std::to_string(end - begin) + " does not match dtype " + dtype_name(view.dtype) +
                        " x shape (" + std::to_string(expected) + " bytes)");
    view.nbytes = static_cast<size_t>(end - begin);
    entries.push_back({name, {begin, end}});
    file.tensors_.push_back(std::move(view));
  }

  // The byte ranges must tile the buffer exactly: no overlaps, no holes.
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return entries[a].second < entries[b].second; });
  uint64_t cursor = 0;
  for (size_t i : order) {
    auto [begin, end] = entries[i].second;
    if (begin < cursor) throw fail("tensor '" + entries[i].first + "' overlaps the previous tensor");
    if (begin > cursor) throw fail("tensor '" + entries[i].first + "' leaves a hole before it in the data buffer");
    cursor = end;
  }
  if (cursor != buffer_size)
    throw fail("data buffer has " + std::to_string(buffer_size - cursor) + " trailing bytes no tensor covers");

  file.bytes_ = std::move(bytes);
  for (size_t i = 0; i < file.tensors_.size(); ++i) {
    file.tensors_[i].data = file.bytes_.data() + data_start + entries[i].second.first;
    file.index_[file.tensors_[i].name] = i;
  }
  return file;
}

bool File::contains(const std::string& name) const { return index_.count(name) > 0; }

const TensorView& File::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw Error(origin_ + ": missing tensor '" + name + "'");
  return tensors_[it->second];
}

std::vector<uint8_t> serialize(const std::vector<TensorData>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorData*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorData* a, const TensorData* b) { return a->name < b->name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorData* t : sorted) {
    uint64_t numel = 1;
    for (int64_t d : t->shape) numel *= static_cast<uint64_t>(d);
    if (numel * dtype_size(t->dtype) != t->nbytes)
      throw Error("safetensors write: tensor '" + t->name + "' has " + std::to_string(t->nbytes) +
                  " bytes, which does not match its dtype and shape");
    if (header.contains(t->name)) throw Error("safetensors write: duplicate tensor '" + t->name + "'");
    header[t->name] = {
        {"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->nbytes}}};
    offset += t->nbytes;
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::vector<uint8_t> out(8 + text.size() + offset);
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(len >> (8 * i));
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* cursor = out.data() + 8 + text.size();
  for (const TensorData* t : sorted) {
    if (t->nbytes) std::memcpy(cursor, t->data, t->nbytes);
    cursor += t->nbytes;
  }
  return out;
}

void write(const std::string& path, const std::vector<TensorData>& tensors,
           const std::map<std::string, std::string>& metadata) {
  std::vector<uint8_t> bytes = serialize(tensors, metadata);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace loom::safetensors
