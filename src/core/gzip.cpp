#include "loom/core/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

#include "loom/core/error.h"

namespace loom {

GzipReader::GzipReader(const std::string& path) : path_(path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw Error(path + ": cannot open");
  file_ = file;
}

GzipReader::~GzipReader() { gzclose(static_cast<gzFile>(file_)); }

size_t GzipReader::read(void* out, size_t n) {
  auto* bytes = static_cast<uint8_t*>(out);
  size_t got = 0;
  if (n > 0 && peeked_ >= 0) {
    bytes[got++] = static_cast<uint8_t>(peeked_);
    peeked_ = -1;
  }
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, INT_MAX / 2));
    const int k = gzread(static_cast<gzFile>(file_), bytes + got, chunk);
    if (k < 0) {
      int code = 0;
      throw Error(path_ + ": corrupt compressed data: " + gzerror(static_cast<gzFile>(file_), &code));
    }
    if (k == 0) break;
    got += static_cast<size_t>(k);
  }
  return got;
}

void GzipReader::read_exact(void* out, size_t n, const std::string& what) {
  const size_t got = read(out, n);
  if (got != n)
    throw Error(path_ + ": truncated: the data ends inside " + what + " (" + std::to_string(got) + " of " +
                std::to_string(n) + " bytes)");
}

bool GzipReader::at_end() {
  if (peeked_ >= 0) return false;
  uint8_t byte = 0;
  if (read(&byte, 1) == 0) return true;
  peeked_ = byte;
  return false;
}

std::string read_gzip_prefix(const std::string& path, uint64_t max_bytes, bool refuse_more) {
  GzipReader in(path);
  std::string out;
  char buffer[1 << 16];
  while (out.size() < max_bytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof(buffer), max_bytes - out.size()));
    const size_t got = in.read(buffer, want);
    if (got == 0) return out;
    out.append(buffer, got);
  }
  if (refuse_more && !in.at_end())
    throw Error(path + ": decompresses to more than " + std::to_string(max_bytes) +
                " bytes, the limit for this file (a compression bomb, or the wrong file?)");
  return out;
}

std::string read_gzip_file(const std::string& path, uint64_t max_bytes) {
  return read_gzip_prefix(path, max_bytes, true);
}

}  // namespace loom
