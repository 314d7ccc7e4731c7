// IDX files as loom reads them, two ways that must agree: parse_idx on the
// bytes, and read_idx's streaming reader on the same bytes as a file (zlib
// passes a plain file through; input that starts like gzip is read as gzip
// and only has to fail cleanly). An accepted array holds exactly the data
// its header promises.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "loom/core/error.h"
#include "loom/core/idx.h"

namespace {

// Both readers' result, or nothing if it threw loom::Error.
template <typename Read>
bool try_read(Read read, loom::IdxArray* out) {
  try {
    *out = read();
    return true;
  } catch (const loom::Error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("loom_fuzz_idx_" + std::to_string(::getpid()))).string();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  loom::IdxArray parsed, streamed;
  const bool parsed_ok = try_read([&] { return loom::parse_idx(bytes, "fuzz.idx"); }, &parsed);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const bool streamed_ok = try_read([&] { return loom::read_idx(path); }, &streamed);
  if (parsed_ok && parsed.data.size() != parsed.item_size() * (parsed.shape.empty() ? 0 : parsed.shape[0]))
    std::abort();
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!gzip &&
      (parsed_ok != streamed_ok || (parsed_ok && (parsed.shape != streamed.shape || parsed.data != streamed.data))))
    std::abort();
  return 0;
}
