// Reader and writer for the safetensors format (https://huggingface.co/docs/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON describing each
// tensor's dtype, shape and byte range, then the raw little-endian data.
//
// loom has its own implementation because no Debian package provides one for
// C++; it validates strictly (offsets in range, no overlaps or holes, sizes that
// match dtype x shape, bounded header length) so that a corrupt or hostile file
// fails with an error naming the file and tensor, never a bad read.
//
//   auto file = loom::safetensors::File::read("model.safetensors");
//   const auto& t = file.get("model.embed_tokens.weight");  // t.shape, t.data
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loom::safetensors {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
// Throws loom::Error for a name outside the table above.
DType dtype_from_name(const std::string& name);

// The largest header accepted; the reference implementation uses the same bound.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the owning File
  size_t nbytes = 0;
  int64_t numel() const;
};

class File {
 public:
  static File read(const std::string& path);
  // `origin` names the source in error messages.
  static File parse(std::vector<uint8_t> bytes, const std::string& origin);

  bool contains(const std::string& name) const;
  // Throws loom::Error naming the file and the missing tensor.
  const TensorView& get(const std::string& name) const;
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& origin() const { return origin_; }

 private:
  std::vector<uint8_t> bytes_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::string origin_;
};

struct TensorData {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// Serialises tensors (sorted by name, as the reference writer does) with the
// header padded to an 8-byte boundary.
std::vector<uint8_t> serialize(const std::vector<TensorData>& tensors,
                               const std::map<std::string, std::string>& metadata = {});
// serialize + write_file_atomic.
void write(const std::string& path, const std::vector<TensorData>& tensors,
           const std::map<std::string, std::string>& metadata = {});

}  // namespace loom::safetensors
