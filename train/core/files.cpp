// files.cpp — file reads and atomic writes (POSIX: open, write, fsync, rename).
#include "train/core/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>  // std::exchange

#include "train/core/error.h"

namespace slm {

std::string read_file(const std::filesystem::path& path, std::string_view what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    SLM_FAIL(path.string(), ": ", what, " not found; check the path (relative paths are taken from ",
             std::filesystem::current_path().string(), ")");
  if (std::filesystem::is_directory(path, ec))
    SLM_FAIL(path.string(), ": is a directory, expected a ", what, " file");
  std::ifstream in(path, std::ios::binary);
  if (!in) SLM_FAIL(path.string(), ": cannot open ", what, " for reading; check its permissions");
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) SLM_FAIL(path.string(), ": read error on ", what);
  return contents.str();
}

void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  AtomicFileWriter out(path);
  out.write(contents.data(), contents.size());
  out.commit();
}

AtomicFileWriter::AtomicFileWriter(const std::filesystem::path& path)
    : path_(path), temporary_(path.string() + ".tmp." + std::to_string(::getpid())) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) SLM_FAIL(path.parent_path().string(), ": cannot create directory: ", ec.message());
  }
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) SLM_FAIL(temporary_, ": cannot create: ", std::strerror(errno), "; check the directory's permissions");
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void AtomicFileWriter::write(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (n > 0) {
    const ssize_t done = ::write(fd_, p, n);
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0)
      SLM_FAIL(path_.string(), ": write failed: ", std::strerror(errno),
               errno == ENOSPC ? "; the disk is full: free space and run again (the previous file is untouched)" : "");
    p += done;
    n -= static_cast<std::size_t>(done);
    written_ += static_cast<std::uint64_t>(done);
  }
}

void AtomicFileWriter::commit() {
  const int fd = std::exchange(fd_, -1);
  if (::fsync(fd) != 0 || ::close(fd) != 0) SLM_FAIL(path_.string(), ": cannot flush to disk: ", std::strerror(errno));
  if (::rename(temporary_.c_str(), path_.c_str()) != 0)
    SLM_FAIL(path_.string(), ": cannot replace: ", std::strerror(errno));
  committed_ = true;
  sync_directory(path_.has_parent_path() ? path_.parent_path() : std::filesystem::path("."));
}

void commit_file(const std::filesystem::path& temporary, const std::filesystem::path& path) {
  const int fd = ::open(temporary.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int saved = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(temporary.c_str());
    SLM_FAIL(path.string(), ": cannot flush to disk: ", std::strerror(saved));
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temporary.c_str());
    SLM_FAIL(path.string(), ": cannot move the finished file into place: ", std::strerror(saved));
  }
  sync_directory(path.has_parent_path() ? path.parent_path() : std::filesystem::path("."));
}

void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) SLM_FAIL(dir.string(), ": cannot open the directory to sync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) SLM_FAIL(dir.string(), ": cannot sync the directory: ", std::strerror(saved));
}

}  // namespace slm
