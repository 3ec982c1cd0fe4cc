// mapped_file.h — a read-only memory map of a whole file (RAII), for model files.
//
// Model weights are read through the map: the kernel pages them in on demand and shares them
// between processes. Readers must bounds-check every offset against size() themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace slm {

class MappedFile {
 public:
  // Maps `path`; throws slm::Error naming the path and `what` ("GGUF file", ...) on failure.
  MappedFile(const std::filesystem::path& path, const char* what);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace slm
