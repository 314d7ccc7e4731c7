#include "loom/core/atomic_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "loom/core/error.h"

namespace loom {
namespace fs = std::filesystem;

namespace {

// An unguessable suffix (mkstemp's XXXXXX) from the kernel's random source.
std::string random_suffix() {
  uint8_t bytes[12];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(std::string("cannot read random bytes for a temporary name: ") + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out;
  for (uint8_t b : bytes) out += alphabet[b % 62];
  return out;
}

// fsync of the directory makes a rename durable. Filesystems that cannot
// sync directories say EINVAL; that is not an error.
void fsync_dir(const fs::path& dir, const std::string& what) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(what + ": cannot open its directory to sync it: " + std::strerror(errno));
  const int rc = ::fsync(fd), err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) throw Error(what + ": cannot sync its directory: " + std::strerror(err));
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size, unsigned mode) {
  fs::path target(path);
  if (target.has_parent_path()) make_dirs(target.parent_path().string());
  // Exclusive creation of a fresh name: never an existing file, never
  // through a symlink, never another writer's temporary.
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = path + ".tmp." + random_suffix();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0 && errno != EEXIST) throw Error(path + ": cannot write: " + std::strerror(errno));
  }
  if (fd < 0) throw Error(path + ": cannot create a temporary file beside it");
  // A private mode is applied exactly, whatever the umask (which could only
  // remove bits); other modes are filtered by the umask as open(2) does.
  if ((mode & 077) == 0 && ::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot set its permissions: " + std::strerror(err));
  }
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
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot flush to disk: " + std::strerror(err));
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot flush to disk");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(path + ": rename failed: " + std::strerror(err));
  }
  fsync_dir(target.parent_path(), path);
}

void write_file_atomic(const std::string& path, const std::string& text, unsigned mode) {
  write_file_atomic(path, text.data(), text.size(), mode);
}

void write_file_atomic(const std::string& path, const char* text, unsigned mode) {
  write_file_atomic(path, std::string(text), mode);
}

std::string make_temp_dir(const std::string& parent, const std::string& prefix) {
  make_dirs(parent);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string dir = parent + "/" + prefix + random_suffix();
    if (::mkdir(dir.c_str(), 0777) == 0) return dir;  // the umask applies, as for make_dirs
    if (errno != EEXIST) throw Error(dir + ": cannot create directory: " + std::strerror(errno));
  }
  throw Error(parent + ": cannot create a temporary directory in it");
}

void rename_dir_atomic(const std::string& staging, const std::string& target) {
  const fs::path parent = fs::path(target).parent_path();
  std::string old_copy;
  if (fs::exists(fs::symlink_status(target))) {
    // rename(2) cannot replace a non-empty directory: move the old one aside
    // first (onto a fresh empty directory, which rename may replace), so that
    // at every instant one complete copy exists.
    old_copy =
        make_temp_dir(parent.empty() ? "." : parent.string(), "." + fs::path(target).filename().string() + ".old.");
    fs::rename(target, old_copy);
  }
  fs::rename(staging, target);
  fsync_dir(parent, target);
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
