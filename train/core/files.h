// files.h — whole-file reads and crash-safe writes, with errors that name the path.
//
// Holds: read_file, write_file_atomic (temporary file, fsync, rename: a reader sees the old
// contents or the new, never a torn file; a full disk leaves the old file intact).
// Does not hold: memory mapping (checkpoints/), HDF5.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace slm {

// Reads a whole file; throws slm::Error naming the path when it is missing or unreadable.
// `what` names the file's role in messages ("recipe", "tokenizer.json", ...).
std::string read_file(const std::filesystem::path& path, std::string_view what);

// Replaces `path` with `contents` atomically, creating parent directories.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

}  // namespace slm
