// Crash-safe file writes: data goes to a fresh temporary file beside the
// target, is fsync'ed, then renamed over the target, and the directory is
// fsync'ed so that the rename itself survives a power cut. A reader sees the
// old file or the new one, never a torn write, even after kill -9.
//
// The temporary is created exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, a
// random name, as mkstemp does) in the target's directory: a file or symlink
// planted under a guessable name is never opened, and concurrent writers of
// one target never share a temporary.
//
//   loom::write_file_atomic("out/metrics.json", text);
//   loom::write_file_atomic("state/tokens.yaml", secrets, loom::kPrivateFileMode);  // 0600
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loom {

// Permission bits of written files: the default is filtered by the umask as
// open(2) does; kPrivateFileMode (owner read/write only) is applied exactly,
// for secrets such as tokens and keys.
constexpr unsigned kDefaultFileMode = 0644;
constexpr unsigned kPrivateFileMode = 0600;

void write_file_atomic(const std::string& path, const void* data, size_t size, unsigned mode = kDefaultFileMode);
void write_file_atomic(const std::string& path, const std::string& text, unsigned mode = kDefaultFileMode);
// A string literal is text: without this overload, write_file_atomic(path,
// "x", kPrivateFileMode) would pick the (data, size) overload and write 384
// bytes of whatever follows the literal.
void write_file_atomic(const std::string& path, const char* text, unsigned mode = kDefaultFileMode);

// Creates a new, empty directory `parent/prefixXXXXXX` (random suffix,
// created exclusively, as mkdtemp does; permissions as make_dirs) and
// returns its path.
std::string make_temp_dir(const std::string& parent, const std::string& prefix);

// Renames a fully written directory into place (used for checkpoints):
// `staging` must be on the same filesystem; an existing `target` is replaced.
void rename_dir_atomic(const std::string& staging, const std::string& target);

std::vector<uint8_t> read_file_bytes(const std::string& path);
std::string read_file_text(const std::string& path);

// Creates the directory and its parents; no error if it exists.
void make_dirs(const std::string& path);

}  // namespace loom
