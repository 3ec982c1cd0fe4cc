// safetensors_write.cpp — writing a safetensors file atomically, streaming the tensors to disk.
//
// Holds: write_safetensors, streaming through train/core/files.h's AtomicFileWriter so a merged
// multi-GB export is never held in memory twice. Does not hold: reading (safetensors.cpp).

#include <cerrno>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "checkpoints/safetensors.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {


// Byte size of one tensor to write, after checking its name and shape.
std::uint64_t checked_nbytes(const std::filesystem::path& path, const TensorToWrite& t) {
  if (t.name.empty() || t.name == "__metadata__")
    SLM_FAIL(path.string(), ": cannot write a tensor named '", t.name, "'; names must be non-empty and not "
             "\"__metadata__\"");
  std::uint64_t n = dtype_size(t.dtype);
  for (std::int64_t d : t.shape) {
    if (d < 0) SLM_FAIL(path.string(), ": tensor '", t.name, "' has a negative dimension ", d);
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n))
      SLM_FAIL(path.string(), ": tensor '", t.name, "': byte size overflows 64 bits");
  }
  if (n > 0 && t.data == nullptr) SLM_FAIL(path.string(), ": tensor '", t.name, "' has no data (null pointer)");
  return n;
}

// The header JSON padded with spaces to a multiple of 8 bytes, so the data starts 8-aligned.
std::string build_header(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                         const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> seen;
  std::uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const std::uint64_t n = checked_nbytes(path, t);
    if (!seen.insert(t.name).second) SLM_FAIL(path.string(), ": tensor '", t.name, "' is given twice; names are unique");
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = dtype_name(t.dtype);
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, offset + n};
    header[t.name] = std::move(entry);
    offset += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string header = build_header(path, tensors, metadata);
  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(header.size()) >> (8 * i));
  AtomicFileWriter out(path);
  out.write(length, 8);
  out.write(header.data(), header.size());
  for (const TensorToWrite& t : tensors) out.write(t.data, checked_nbytes(path, t));
  out.commit();
}

}  // namespace slm
