// Reader for the IDX format of (Fashion-)MNIST (`*-idx3-ubyte.gz`,
// `*-idx1-ubyte.gz`, gzipped or not): a big-endian header (0, 0, type, rank),
// rank big-endian uint32 sizes, then the data. Only unsigned-byte data is
// accepted. Errors name the file and what is wrong; sizes are checked against
// the file length before anything is read.
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

IdxArray parse_idx(const std::string& bytes, const std::string& origin);
IdxArray read_idx(const std::string& path);

}  // namespace loom
