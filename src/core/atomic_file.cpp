#include "loom/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "loom/core/error.h"

namespace loom {
namespace fs = std::filesystem;

namespace {

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size, unsigned mode) {
  fs::path target(path);
  if (target.has_parent_path()) make_dirs(target.parent_path().string());
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // a leftover temporary would keep its old permission bits
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, static_cast<mode_t>(mode));
  if (fd < 0) throw Error(path + ": cannot write: " + std::strerror(errno));
  const auto* bytes = static_cast<const uint8_t*>(data);
  size_t written = 0;
  while (written < size) {
    ssize_t n = ::write(fd, bytes + written, size - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(path + ": write failed: " + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot flush to disk");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw Error(path + ": rename failed: " + std::strerror(errno));
  }
  fsync_dir(target.parent_path());
}

void write_file_atomic(const std::string& path, const std::string& text, unsigned mode) {
  write_file_atomic(path, text.data(), text.size(), mode);
}

void rename_dir_atomic(const std::string& staging, const std::string& target) {
  fs::path old_copy;
  if (fs::exists(target)) {
    // rename(2) cannot replace a non-empty directory: move the old one aside
    // first, so that at every instant one complete copy exists.
    old_copy = target + ".old." + std::to_string(::getpid());
    fs::remove_all(old_copy);
    fs::rename(target, old_copy);
  }
  fs::rename(staging, target);
  fsync_dir(fs::path(target).parent_path());
  if (!old_copy.empty()) fs::remove_all(old_copy);
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) throw Error(path + ": cannot read size");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) throw Error(path + ": read failed");
  return bytes;
}

std::string read_file_text(const std::string& path) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw Error(path + ": cannot create directory: " + ec.message());
}

}  // namespace loom
