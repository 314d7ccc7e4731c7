// Crash-safe file writes: data goes to a temporary file beside the target,
// is fsync'ed, then renamed over the target. A reader sees the old file or the
// new one, never a torn write, even after kill -9.
//
//   loom::write_file_atomic("out/metrics.json", text);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loom {

// Permission bits of the new file (filtered by the umask, as open(2) does);
// kPrivateFileMode (owner read/write only) for secrets such as tokens and keys.
constexpr unsigned kDefaultFileMode = 0644;
constexpr unsigned kPrivateFileMode = 0600;

void write_file_atomic(const std::string& path, const void* data, size_t size, unsigned mode = kDefaultFileMode);
void write_file_atomic(const std::string& path, const std::string& text, unsigned mode = kDefaultFileMode);

// Renames a fully written directory into place (used for checkpoints):
// `staging` must be on the same filesystem; an existing `target` is replaced.
void rename_dir_atomic(const std::string& staging, const std::string& target);

std::vector<uint8_t> read_file_bytes(const std::string& path);
std::string read_file_text(const std::string& path);

// Creates the directory and its parents; no error if it exists.
void make_dirs(const std::string& path);

}  // namespace loom
