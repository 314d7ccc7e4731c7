// Reader for the IDX format of (Fashion-)MNIST (`*-idx3-ubyte.gz`,
// `*-idx1-ubyte.gz`, gzipped or not): a big-endian header (0, 0, type, rank),
// rank big-endian uint32 sizes, then the data. Only unsigned-byte data is
// accepted. Errors name the file and what is wrong. The header is checked
// before any data is read: the sizes must describe at most `max_bytes` (1 GiB
// unless told otherwise; Fashion-MNIST's largest file holds 47 MB), and a
// gzipped file is decompressed as a stream that stops where the header says
// the data ends, so a small file that inflates to gigabytes costs nothing.
//
//   loom::IdxArray images = loom::read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loom {

struct IdxArray {
  std::vector<uint32_t> shape;
  std::vector<uint8_t> data;
  size_t count() const { return shape.empty() ? 0 : shape[0]; }
  size_t item_size() const;  // product of shape[1..]
};

constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 30;

IdxArray parse_idx(const std::string& bytes, const std::string& origin, uint64_t max_bytes = kMaxIdxBytes);
IdxArray read_idx(const std::string& path, uint64_t max_bytes = kMaxIdxBytes);

}  // namespace loom
