#include "loom/core/idx.h"

#include "loom/core/dictd.h"
#include "loom/core/error.h"

namespace loom {

size_t IdxArray::item_size() const {
  size_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

IdxArray parse_idx(const std::string& bytes, const std::string& origin) {
  auto u8 = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  if (bytes.size() < 4)
    throw Error(origin + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  if (u8(0) != 0 || u8(1) != 0) throw Error(origin + ": not an IDX file (magic bytes are not 0 0)");
  if (u8(2) != 0x08)
    throw Error(origin + ": IDX data type 0x" + std::to_string(u8(2)) + " is not unsigned byte (0x08)");
  const size_t rank = u8(3);
  if (rank < 1 || rank > 4) throw Error(origin + ": IDX rank " + std::to_string(rank) + " is outside 1..4");
  if (bytes.size() < 4 + 4 * rank) throw Error(origin + ": header truncated (sizes missing)");
  IdxArray a;
  uint64_t total = 1;
  for (size_t d = 0; d < rank; ++d) {
    const size_t o = 4 + 4 * d;
    const uint32_t n = (uint32_t{u8(o)} << 24) | (uint32_t{u8(o + 1)} << 16) | (uint32_t{u8(o + 2)} << 8) | u8(o + 3);
    a.shape.push_back(n);
    total *= n;
    if (total > (uint64_t{1} << 34)) throw Error(origin + ": IDX sizes describe an implausibly large array");
  }
  const size_t header = 4 + 4 * rank;
  if (bytes.size() - header != total)
    throw Error(origin + ": IDX header promises " + std::to_string(total) + " bytes of data but the file has " +
                std::to_string(bytes.size() - header));
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

IdxArray read_idx(const std::string& path) { return parse_idx(read_gzip_file(path), path); }

}  // namespace loom
