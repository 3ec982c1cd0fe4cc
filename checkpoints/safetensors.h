// safetensors.h — reading and writing Hugging Face safetensors files and checkpoints.
//
// Holds: SafetensorsFile (one memory-mapped .safetensors file, fully validated on open),
// SafetensorsCheckpoint (a file, a model directory, or shards listed by
// model.safetensors.index.json), read_tensor_fp32, write_safetensors, describe_safetensors.
// Does not hold: HF name mapping to our model, config.json (hf_config.h), GGUF (gguf*.h).
//
// The format (github.com/huggingface/safetensors, "Format"): 8 bytes little-endian u64 N, then N
// bytes of a UTF-8 JSON object (may be padded at the end with spaces), then the data section.
// Each key of the object is a tensor name mapping to {"dtype", "shape", "data_offsets": [begin,
// end]} with offsets relative to the data section; the optional key "__metadata__" maps strings
// to strings. Tensors are little-endian, row-major.
//
// What open() accepts (everything else is an slm::Error naming the file, the tensor and the byte
// offset): a header of at most 100 MB; dtypes we know (F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL);
// non-negative dims; end - begin == product(shape) * dtype size, computed with overflow checks;
// zero-element tensors (begin == end) and scalars (shape []). The spec requires the data section
// to be entirely indexed: tensors may not overlap, and holes between tensors or bytes after the
// last one are rejected too (a file with unindexed bytes is not what any writer produces and may
// be a polyglot file). Duplicate names are rejected (the spec disallows them; JSON parsers would
// silently keep one).
//
// Alignment: `data` points into the map and is aligned to the element size only when the writer
// padded the header to 8 bytes and ordered tensors by alignment (HF's writer and ours do both).
// Read through read_tensor_fp32 or memcpy unless you checked the alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <utility>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoints/dtype.h"
#include "train/core/mapped_file.h"

namespace slm {

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // outermost first; [] is a scalar
  const std::uint8_t* data = nullptr;  // into the map; may be unaligned (see above)
  std::size_t nbytes = 0;
  std::uint64_t begin = 0;  // offset in the data section, for messages

  std::int64_t num_elements() const;
};

class SafetensorsFile {
 public:
  // Maps `path` and validates the header and every tensor entry against the file.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return map_.path(); }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }  // in offset order
  const SafetensorsTensor* find(std::string_view name) const;                  // nullptr if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // "__metadata__"
  std::uint64_t header_size() const { return header_size_; }  // N, the JSON header's length

 private:
  explicit SafetensorsFile(MappedFile map) : map_(std::move(map)) {}

  MappedFile map_;
  std::uint64_t header_size_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::size_t, std::less<>> by_name_;  // name -> index in tensors_
  std::map<std::string, std::string> metadata_;
};

// A checkpoint: one .safetensors file; or a directory holding model.safetensors, or shards listed
// by model.safetensors.index.json ("weight_map": tensor name -> shard file name); or the index
// json itself. Each shard is opened once. Every weight_map entry must be in its shard, every
// tensor of a shard must be listed for that shard, and no name may appear in two shards.
// A directory with both model.safetensors and an index uses model.safetensors (as transformers).
class SafetensorsCheckpoint {
 public:
  static SafetensorsCheckpoint open(const std::filesystem::path& file_or_dir);

  const std::filesystem::path& path() const { return path_; }  // as given to open()
  const SafetensorsTensor* find(std::string_view name) const;  // nullptr if absent
  // Throws slm::Error naming the checkpoint and the tensor, suggesting the closest names.
  const SafetensorsTensor& get(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  const std::vector<SafetensorsFile>& files() const { return files_; }
  // The shard holding `name` (for messages); nullptr if absent.
  const SafetensorsFile* file_of(std::string_view name) const;

 private:
  struct Location {
    std::size_t file;
    std::size_t tensor;
  };
  std::filesystem::path path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Location, std::less<>> by_name_;

  void add_file(SafetensorsFile file);
  static SafetensorsCheckpoint open_index(const std::filesystem::path& index_json);
};

// Converts a F32, F16 or BF16 tensor to fp32 into dst[0 .. num_elements()); throws naming the
// tensor for other dtypes. Handles unaligned data.
void read_tensor_fp32(const SafetensorsTensor& t, float* dst);

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;  // product(shape) * dtype_size(dtype) bytes, little-endian
};

// Writes a safetensors file atomically (temporary file, fsync, rename): header padded with spaces
// so the data section starts at a multiple of 8, "__metadata__" first when not empty, tensors
// laid out back to back in the given order (put wider dtypes first to keep every tensor aligned).
// Streams the tensors to disk, never holding a second copy of the data in memory.
// Throws naming the file and the tensor on empty or duplicate names, negative dims, null data.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A human-readable summary for `slmtune inspect`: the files, the metadata, a table of tensors
// (name, dtype, shape) and the parameter count per dtype.
std::string describe_safetensors(const SafetensorsCheckpoint& c);

}  // namespace slm
