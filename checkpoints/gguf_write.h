// gguf_write.h — a GGUF v3 writer: metadata of every value type and tensors streamed to disk.
//
// Holds: GgufWriter (collects metadata and tensor descriptions, then writes the file atomically:
// a temporary file in the same directory, fsync, rename) and helpers that build GgufValues.
// Tensors are not held: each one is a source the writer pulls from while writing, in chunks of
// rows, quantizing each chunk (F32, F16, BF16, Q8_0; checkpoints/gguf_quants.h), or raw bytes
// already in a GGML type. The file reads back with GgufFile (checkpoints/gguf.h), whose header
// comment describes the layout.
// Does not hold: what a model's or an adapter's file contains (checkpoints/export_gguf.*).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "checkpoints/gguf.h"

namespace slm {

// GgufValue builders. Integers are range-checked when the writer narrows them to their type.
GgufValue gguf_value_string(std::string s);
GgufValue gguf_value_bool(bool b);
GgufValue gguf_value_int(GgufValueType type, std::int64_t x);  // UINT8 .. INT64 (UINT64 as its bits)
GgufValue gguf_value_float(GgufValueType type, double x);      // FLOAT32 or FLOAT64
GgufValue gguf_value_string_array(std::vector<std::string> items);
GgufValue gguf_value_int_array(GgufValueType elem_type, std::vector<std::int64_t> items);
GgufValue gguf_value_float_array(GgufValueType elem_type, std::vector<double> items);
GgufValue gguf_value_array_of_arrays(std::vector<GgufValue> items);  // items all of one type

// Fills dst with rows [row_begin, row_begin + n_rows) of a tensor as fp32, ne[0] floats per row
// (a row is ne[0] consecutive elements; rows run over ne[1] * ne[2] * ne[3]).
using GgufRowSource = std::function<void(std::int64_t row_begin, std::int64_t n_rows, float* dst)>;

class GgufWriter {
 public:
  GgufWriter();
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Metadata in the order added. Keys are unique and non-empty; values are checked for a
  // consistent type (and integer range) here. general.alignment (an unsigned power of two) sets
  // the data alignment; without it the writer appends general.alignment = 32 (UINT32).
  void set(const std::string& key, GgufValue value);
  void set_string(const std::string& key, std::string value);
  void set_u32(const std::string& key, std::uint32_t value);
  void set_f32(const std::string& key, float value);
  void set_bool(const std::string& key, bool value);
  bool has(const std::string& key) const;

  // A tensor pulled from `rows` as fp32 and stored as `type` (F32, F16, BF16 or Q8_0).
  // dims as in the file: dims[0] = ne[0], the fastest-varying (a [out, in] matrix is {in, out}).
  // Names are unique, at most 63 bytes (ggml's limit); 1 to 4 dims, each > 0, and ne[0] a
  // multiple of the type's block size. Throws slm::Error naming the tensor otherwise.
  void add_tensor(const std::string& name, std::vector<std::int64_t> dims, GgmlType type, GgufRowSource rows);
  // The same from contiguous fp32 memory (dims' element count floats), which must outlive write().
  void add_tensor(const std::string& name, std::vector<std::int64_t> dims, GgmlType type, const float* data);
  // Bytes already in `type`'s layout (any GGML type slmtune knows), which must outlive write().
  void add_tensor_raw(const std::string& name, std::vector<std::int64_t> dims, GgmlType type, const void* bytes);

  // Writes the file atomically; an exception (including one from a row source) leaves any old
  // file at `path` untouched and no temporary file behind.
  void write(const std::filesystem::path& path) const;

  struct Tensor {
    std::string name;
    std::vector<std::int64_t> dims;
    GgmlType type = GgmlType::F32;
    GgufRowSource rows;           // set for fp32 sources
    const void* raw = nullptr;    // set for raw bytes
    std::uint64_t nbytes = 0;
  };

 private:
  void add(const std::string& name, std::vector<std::int64_t> dims, GgmlType type, GgufRowSource rows,
           const void* raw);
  std::vector<std::string> keys_;
  std::vector<GgufValue> values_;
  std::vector<Tensor> tensors_;
  std::size_t alignment_ = 32;
};

}  // namespace slm
