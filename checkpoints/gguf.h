// gguf.h — a validating reader of GGUF files (v3, and v2 which has the same layout).
//
// Holds: the GGML tensor types and GGUF metadata value types, GgufValue (one metadata value,
// scalar or array), GgufTensor (one entry of the tensor table, pointing into the map) and
// GgufFile, which maps a file, checks every count, length, type, shape and offset against the
// file's size before trusting it, and answers typed metadata queries.
// Does not hold: dequantization (checkpoints/gguf_quants.h), HF name mapping, the llama q/k
// permutation and the `inspect` description (checkpoints/gguf_names.h), or writing GGUF.
//
// Layout of a GGUF file (all little-endian):
//   magic "GGUF", u32 version, u64 tensor_count, u64 kv_count
//   kv_count x { string key, u32 value_type, value }      string = u64 length + UTF-8 bytes
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to general.alignment (default 32), then the data section; offsets are relative to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>  // std::less<> for heterogeneous lookup
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

class MappedFile;

// GGML tensor element types with their on-disk numbers. Q8_1 and Q8_K are read (their sizes are
// known) but not dequantized; other numbers (IQ*, integer tensors, ...) are rejected on open.
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30
};

enum class GgufValueType : std::uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12
};

std::string_view gguf_value_type_name(GgufValueType type);  // "UINT32", "ARRAY", ...

// One metadata value. A scalar is stored as a one-element sequence of its own type, so scalars
// and arrays share the storage below; exactly one of the vectors is used, chosen by elem_type.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;  // scalar type, or ARRAY
  GgufValueType elem_type =
      GgufValueType::UINT8;          // == type for scalars; the element type of an ARRAY
  std::vector<std::int64_t> ints;    // integer and BOOL elements; UINT64 kept as its 64 bits
  std::vector<double> floats;        // FLOAT32 / FLOAT64 elements, widened exactly
  std::vector<std::string> strings;  // STRING elements (raw bytes, UTF-8 by the spec)
  std::vector<GgufValue> arrays;     // ARRAY elements (arrays of arrays)

  bool is_array() const { return type == GgufValueType::ARRAY; }
  std::size_t size() const;       // number of elements (1 for a scalar)
  std::string type_text() const;  // "UINT32", "ARRAY[STRING]", ...
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<std::int64_t> dims;  // as in the file: dims[0] = ne[0], the fastest-varying
  std::uint64_t offset = 0;        // relative to the data section
  std::size_t nbytes = 0;
  const std::uint8_t* data = nullptr;  // into the map; valid while the GgufFile lives
  std::int64_t num_elements() const;
};

class GgufFile {
 public:
  // Maps `path` and validates the whole header and tensor table; throws slm::Error naming the
  // file, the byte offset, what is wrong and what to do.
  static GgufFile open(const std::filesystem::path& path);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::filesystem::path& path() const;
  std::uint32_t version() const { return version_; }
  std::size_t alignment() const { return alignment_; }
  std::size_t data_offset() const { return data_offset_; }  // file offset of the data section
  std::size_t file_size() const;

  const std::vector<std::string>& keys() const { return keys_; }  // metadata keys in file order
  bool has(std::string_view key) const;
  const GgufValue& get(std::string_view key) const;  // throws naming file and key
  // Typed getters; each throws naming the file, the key and the actual type on a mismatch.
  std::string get_string(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;  // any integer type (and bool)
  double get_float(std::string_view key) const;      // float or integer types
  bool get_bool(std::string_view key) const;
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<std::int64_t> get_int_array(std::string_view key) const;
  std::vector<double> get_float_array(std::string_view key) const;
  // A short rendering for `inspect`: strings quoted and cut at ~200 bytes, arrays as
  // "[a, b, ... (N total)]" showing at most max_elements.
  std::string value_text(std::string_view key, std::size_t max_elements = 8) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(std::string_view name) const;

 private:
  GgufFile();
  friend class GgufParser;

  std::unique_ptr<MappedFile> map_;
  std::uint32_t version_ = 0;
  std::size_t alignment_ = 32;
  std::size_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::vector<GgufValue> values_;  // parallel to keys_
  std::vector<GgufTensor> tensors_;
  std::map<std::string, std::size_t, std::less<>> key_index_;     // key -> index in keys_
  std::map<std::string, std::size_t, std::less<>> tensor_index_;  // name -> index in tensors_
};

}  // namespace slm
