// files.h — whole-file reads and crash-safe writes, with errors that name the path.
//
// Holds: read_file, write_file_atomic (temporary file, fsync, rename: a reader sees the old
// contents or the new, never a torn file; a full disk leaves the old file intact), commit_file,
// sync_directory.
// Does not hold: memory mapping (checkpoints/), HDF5.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace slm {

// Reads a whole file; throws slm::Error naming the path when it is missing or unreadable.
// `what` names the file's role in messages ("recipe", "tokenizer.json", ...).
std::string read_file(const std::filesystem::path& path, std::string_view what);

// Replaces `path` with `contents` atomically and durably, creating parent directories.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// For files written by a library (HDF5, safetensors) under a temporary name: fsyncs `temporary`,
// renames it over `path` and fsyncs the directory, so after a crash `path` is either the old
// file or the complete new one. Removes the temporary and throws naming `path` on failure.
void commit_file(const std::filesystem::path& temporary, const std::filesystem::path& path);

// fsync of a directory: makes entries created, renamed or removed in it durable.
void sync_directory(const std::filesystem::path& dir);

}  // namespace slm
