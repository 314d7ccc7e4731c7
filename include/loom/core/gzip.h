// Reading gzip (and dictzip) files as streams, with limits: a megabyte of
// gzip can inflate to a gigabyte, so readers take what they need, check
// headers first, and never decompress past a bound. Plain (uncompressed)
// files read the same way, as zlib's gzread passes them through.
//
//   loom::GzipReader in("t10k-images-idx3-ubyte.gz");
//   uint8_t magic[4];
//   in.read_exact(magic, 4, "the IDX header");
//   std::string text = loom::read_gzip_file("words.dict.dz", 64 << 20);
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace loom {

// Decompressed bytes a whole-file read accepts unless told otherwise.
constexpr uint64_t kMaxDecompressedBytes = uint64_t{1} << 30;  // 1 GiB

class GzipReader {
 public:
  explicit GzipReader(const std::string& path);
  ~GzipReader();
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  // Up to `n` bytes; fewer only at the end of the data. Errors name the file.
  size_t read(void* out, size_t n);
  // Exactly `n` bytes, or an error saying the file ends inside `what`.
  void read_exact(void* out, size_t n, const std::string& what);
  // True when no data is left (reads ahead by one byte at most).
  bool at_end();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* file_ = nullptr;  // gzFile
  int peeked_ = -1;       // a byte read ahead by at_end(), or -1
};

// The first `max_bytes` decompressed bytes of a file, or all of them if it
// holds fewer; with `refuse_more`, a file holding more is an error instead.
std::string read_gzip_prefix(const std::string& path, uint64_t max_bytes, bool refuse_more);
// The whole decompressed file; more than `max_bytes` is an error.
std::string read_gzip_file(const std::string& path, uint64_t max_bytes = kMaxDecompressedBytes);

}  // namespace loom
