#include "loom/core/idx.h"

#include <algorithm>

#include "loom/core/error.h"
#include "loom/core/gzip.h"

namespace loom {

size_t IdxArray::item_size() const {
  size_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

namespace {

uint8_t byte_at(const std::string& bytes, size_t i) { return static_cast<uint8_t>(bytes[i]); }

// The rank from the 4 magic bytes.
size_t idx_rank(const std::string& magic, const std::string& origin) {
  if (byte_at(magic, 0) != 0 || byte_at(magic, 1) != 0)
    throw Error(origin + ": not an IDX file (magic bytes are not 0 0)");
  if (byte_at(magic, 2) != 0x08)
    throw Error(origin + ": IDX data type 0x" + std::to_string(byte_at(magic, 2)) + " is not unsigned byte (0x08)");
  const size_t rank = byte_at(magic, 3);
  if (rank < 1 || rank > 4) throw Error(origin + ": IDX rank " + std::to_string(rank) + " is outside 1..4");
  return rank;
}

// The shape from the big-endian sizes; their product is the data's length,
// which must not exceed `max_bytes`.
std::vector<uint32_t> idx_shape(const std::string& sizes, const std::string& origin, uint64_t max_bytes,
                                uint64_t* total) {
  std::vector<uint32_t> shape;
  *total = 1;
  for (size_t o = 0; o + 4 <= sizes.size(); o += 4) {
    const uint32_t n = (uint32_t{byte_at(sizes, o)} << 24) | (uint32_t{byte_at(sizes, o + 1)} << 16) |
                       (uint32_t{byte_at(sizes, o + 2)} << 8) | byte_at(sizes, o + 3);
    shape.push_back(n);
    *total *= n;  // at most 2^32 * 2^32 before the check below fails
    if (*total > max_bytes)
      throw Error(origin + ": IDX sizes describe an implausibly large array (" +
                  (shape.size() < sizes.size() / 4 ? "at least " : "") + std::to_string(*total) +
                  " bytes, more than the limit of " + std::to_string(max_bytes) + ")");
  }
  return shape;
}

}  // namespace

IdxArray parse_idx(const std::string& bytes, const std::string& origin, uint64_t max_bytes) {
  if (bytes.size() < 4)
    throw Error(origin + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  const size_t rank = idx_rank(bytes.substr(0, 4), origin);
  if (bytes.size() < 4 + 4 * rank) throw Error(origin + ": header truncated (sizes missing)");
  IdxArray a;
  uint64_t total = 0;
  a.shape = idx_shape(bytes.substr(4, 4 * rank), origin, max_bytes, &total);
  const size_t header = 4 + 4 * rank;
  if (bytes.size() - header != total)
    throw Error(origin + ": IDX header promises " + std::to_string(total) + " bytes of data but the file has " +
                std::to_string(bytes.size() - header));
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

IdxArray read_idx(const std::string& path, uint64_t max_bytes) {
  // Streamed: the header is checked before any data is decompressed, and no
  // more than it promises is ever read, so a small file that inflates to
  // gigabytes costs nothing.
  GzipReader in(path);
  std::string magic(4, '\0');
  if (in.read(magic.data(), 4) != 4) throw Error(path + ": too short for an IDX header");
  const size_t rank = idx_rank(magic, path);
  std::string sizes(4 * rank, '\0');
  if (in.read(sizes.data(), sizes.size()) != sizes.size()) throw Error(path + ": header truncated (sizes missing)");
  IdxArray a;
  uint64_t total = 0;
  a.shape = idx_shape(sizes, path, max_bytes, &total);
  // Grown as data arrives: a header that lies about the size costs no more
  // memory than the data that is really there.
  uint8_t buffer[1 << 16];
  while (a.data.size() < total) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof(buffer), total - a.data.size()));
    const size_t got = in.read(buffer, want);
    if (got == 0)
      throw Error(path + ": IDX header promises " + std::to_string(total) + " bytes of data but the file has " +
                  std::to_string(a.data.size()));
    a.data.insert(a.data.end(), buffer, buffer + got);
  }
  if (!in.at_end())
    throw Error(path + ": IDX header promises " + std::to_string(total) +
                " bytes of data but the file has more (trailing data)");
  return a;
}

}  // namespace loom
