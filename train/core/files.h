// files.h — whole-file reads and crash-safe writes, with errors that name the path.
//
// Holds: read_file, write_file_atomic (temporary file, fsync, rename: a reader sees the old
// contents or the new, never a torn file; a full disk leaves the old file intact),
// AtomicFileWriter (the same for a file written in pieces), commit_file, sync_directory.
// Does not hold: memory mapping (checkpoints/), HDF5.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace slm {

// Reads a whole file; throws slm::Error naming the path when it is missing or unreadable.
// `what` names the file's role in messages ("recipe", "tokenizer.json", ...).
std::string read_file(const std::filesystem::path& path, std::string_view what);

// Replaces `path` with `contents` atomically and durably, creating parent directories.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// A file written in pieces (streaming large tensors) that replaces `path` only on commit():
// writes go to "<path>.tmp.<pid>"; commit() fsyncs, renames over `path` and fsyncs the
// directory. Destroyed before commit() (an exception on the way), it removes the temporary file
// and leaves any old `path` untouched. A full disk is reported as such.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::filesystem::path& path);
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  void write(const void* data, std::size_t n);
  std::uint64_t written() const { return written_; }
  void commit();

 private:
  std::filesystem::path path_;
  std::string temporary_;
  int fd_ = -1;
  bool committed_ = false;
  std::uint64_t written_ = 0;
};

// For files written by a library (HDF5, safetensors) under a temporary name: fsyncs `temporary`,
// renames it over `path` and fsyncs the directory, so after a crash `path` is either the old
// file or the complete new one. Removes the temporary and throws naming `path` on failure.
void commit_file(const std::filesystem::path& temporary, const std::filesystem::path& path);

// fsync of a directory: makes entries created, renamed or removed in it durable.
void sync_directory(const std::filesystem::path& dir);

}  // namespace slm
