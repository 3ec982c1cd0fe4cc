// gguf_write.cpp — GgufWriter: metadata checks, header encoding, tensor streaming, atomic file.
//
// The header (metadata and tensor table) is built in memory (a few MB for a 150k-token
// vocabulary); tensor data is streamed: fp32 sources are pulled a chunk of rows at a time
// (about 4 MB), quantized into one reused buffer and written, so a multi-GB model is never
// copied whole. Holds no knowledge of models (checkpoints/export_gguf.*).
#include "checkpoints/gguf_write.h"


#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "checkpoints/gguf_quants.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

constexpr std::uint32_t k_version = 3;
constexpr std::size_t k_max_name_bytes = 63;     // ggml's GGML_MAX_NAME is 64 with the NUL
constexpr std::size_t k_chunk_floats = 1 << 20;  // rows pulled per chunk: about 4 MB of fp32


// --- metadata checks and encoding ---------------------------------------------------------------

bool is_int_type(GgufValueType t) {
  return t != GgufValueType::FLOAT32 && t != GgufValueType::FLOAT64 && t != GgufValueType::STRING &&
         t != GgufValueType::ARRAY;
}

void check_int_range(const std::string& key, GgufValueType t, std::int64_t x) {
  std::int64_t lo = 0, hi = 0;
  switch (t) {
    case GgufValueType::UINT8: lo = 0, hi = 255; break;
    case GgufValueType::INT8: lo = -128, hi = 127; break;
    case GgufValueType::UINT16: lo = 0, hi = 65535; break;
    case GgufValueType::INT16: lo = -32768, hi = 32767; break;
    case GgufValueType::UINT32: lo = 0, hi = 4294967295LL; break;
    case GgufValueType::INT32: lo = -2147483648LL, hi = 2147483647LL; break;
    case GgufValueType::BOOL: lo = 0, hi = 1; break;
    default: return;  // UINT64 (its bits), INT64: every int64 fits
  }
  if (x < lo || x > hi)
    SLM_FAIL("GGUF metadata '", key, "': ", x, " does not fit ", gguf_value_type_name(t), " (", lo, "..", hi, ")");
}

// Checks that exactly the storage of `v`'s element type is used and the integers fit.
void check_value(const std::string& key, const GgufValue& v, int depth) {
  SLM_CHECK(depth < 8, "GGUF metadata '", key, "': arrays nested deeper than 8 levels");
  const bool array = v.type == GgufValueType::ARRAY;
  SLM_CHECK(array || v.elem_type == v.type, "GGUF metadata '", key, "': a scalar's elem_type must equal its type");
  SLM_CHECK(static_cast<std::uint32_t>(v.type) <= 12 && static_cast<std::uint32_t>(v.elem_type) <= 12,
            "GGUF metadata '", key, "': unknown value type");
  const GgufValueType e = v.elem_type;
  const std::size_t used = (is_int_type(e) ? v.ints.size() : 0) +
                           (e == GgufValueType::FLOAT32 || e == GgufValueType::FLOAT64 ? v.floats.size() : 0) +
                           (e == GgufValueType::STRING ? v.strings.size() : 0) +
                           (e == GgufValueType::ARRAY ? v.arrays.size() : 0);
  const std::size_t total = v.ints.size() + v.floats.size() + v.strings.size() + v.arrays.size();
  SLM_CHECK(used == total, "GGUF metadata '", key, "': holds elements that are not of its type ",
            v.type_text());
  SLM_CHECK(array || used == 1, "GGUF metadata '", key, "': a scalar ", v.type_text(), " needs exactly one value, has ",
            used);
  if (is_int_type(e))
    for (std::int64_t x : v.ints) check_int_range(key, e, x);
  for (const GgufValue& inner : v.arrays) {
    SLM_CHECK(inner.type == GgufValueType::ARRAY, "GGUF metadata '", key, "': an ARRAY[ARRAY] holds a scalar");
    check_value(key, inner, depth + 1);
  }
}

template <typename T>
void put(std::string& out, T x) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &x, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<std::uint64_t>(out, s.size());
  out += s;
}

void put_element(std::string& out, const GgufValue& v, std::size_t i);

void put_payload(std::string& out, const GgufValue& v) {  // the value after its type
  if (v.type != GgufValueType::ARRAY) {
    put_element(out, v, 0);
    return;
  }
  put<std::uint32_t>(out, static_cast<std::uint32_t>(v.elem_type));
  put<std::uint64_t>(out, v.size());
  for (std::size_t i = 0; i < v.size(); ++i) put_element(out, v, i);
}

void put_element(std::string& out, const GgufValue& v, std::size_t i) {
  switch (v.elem_type) {
    case GgufValueType::UINT8: put<std::uint8_t>(out, static_cast<std::uint8_t>(v.ints[i])); break;
    case GgufValueType::INT8: put<std::int8_t>(out, static_cast<std::int8_t>(v.ints[i])); break;
    case GgufValueType::UINT16: put<std::uint16_t>(out, static_cast<std::uint16_t>(v.ints[i])); break;
    case GgufValueType::INT16: put<std::int16_t>(out, static_cast<std::int16_t>(v.ints[i])); break;
    case GgufValueType::UINT32: put<std::uint32_t>(out, static_cast<std::uint32_t>(v.ints[i])); break;
    case GgufValueType::INT32: put<std::int32_t>(out, static_cast<std::int32_t>(v.ints[i])); break;
    case GgufValueType::UINT64: put<std::uint64_t>(out, static_cast<std::uint64_t>(v.ints[i])); break;
    case GgufValueType::INT64: put<std::int64_t>(out, v.ints[i]); break;
    case GgufValueType::BOOL: put<std::uint8_t>(out, v.ints[i] ? 1 : 0); break;
    case GgufValueType::FLOAT32: put<float>(out, static_cast<float>(v.floats[i])); break;
    case GgufValueType::FLOAT64: put<double>(out, v.floats[i]); break;
    case GgufValueType::STRING: put_string(out, v.strings[i]); break;
    case GgufValueType::ARRAY:
      put_payload(out, v.arrays[i]);  // an inner array: its element type, count and elements
      break;
  }
}

std::uint64_t padded(std::uint64_t n, std::uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// Streams one tensor: raw bytes as they are, fp32 rows a chunk at a time through quantize().
void write_tensor_data(AtomicFileWriter& out, const GgufWriter::Tensor& t, std::vector<float>& floats,
                       std::vector<std::uint8_t>& bytes) {
  if (t.raw) {
    out.write(t.raw, static_cast<std::size_t>(t.nbytes));
    return;
  }
  const std::int64_t ne0 = t.dims[0];
  std::int64_t rows = 1;
  for (std::size_t d = 1; d < t.dims.size(); ++d) rows *= t.dims[d];
  const std::int64_t chunk = std::max<std::int64_t>(1, static_cast<std::int64_t>(k_chunk_floats) / ne0);
  const std::size_t row_bytes = static_cast<std::size_t>(ne0 / ggml_block_elements(t.type)) * ggml_block_bytes(t.type);
  for (std::int64_t r = 0; r < rows; r += chunk) {
    const std::int64_t n = std::min(chunk, rows - r);
    floats.resize(static_cast<std::size_t>(n * ne0));
    bytes.resize(static_cast<std::size_t>(n) * row_bytes);
    t.rows(r, n, floats.data());
    quantize(t.type, floats.data(), bytes.data(), n * ne0);
    out.write(bytes.data(), bytes.size());
  }
}

}  // namespace

// --- value builders -----------------------------------------------------------------------------

GgufValue gguf_value_string(std::string s) {
  GgufValue v;
  v.type = v.elem_type = GgufValueType::STRING;
  v.strings.push_back(std::move(s));
  return v;
}

GgufValue gguf_value_bool(bool b) { return gguf_value_int(GgufValueType::BOOL, b ? 1 : 0); }

GgufValue gguf_value_int(GgufValueType type, std::int64_t x) {
  SLM_CHECK(is_int_type(type), "gguf_value_int: ", gguf_value_type_name(type), " is not an integer type");
  GgufValue v;
  v.type = v.elem_type = type;
  v.ints.push_back(x);
  return v;
}

GgufValue gguf_value_float(GgufValueType type, double x) {
  SLM_CHECK(type == GgufValueType::FLOAT32 || type == GgufValueType::FLOAT64, "gguf_value_float: ",
            gguf_value_type_name(type), " is not a float type");
  GgufValue v;
  v.type = v.elem_type = type;
  v.floats.push_back(x);
  return v;
}

GgufValue gguf_value_string_array(std::vector<std::string> items) {
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.elem_type = GgufValueType::STRING;
  v.strings = std::move(items);
  return v;
}

GgufValue gguf_value_int_array(GgufValueType elem_type, std::vector<std::int64_t> items) {
  SLM_CHECK(is_int_type(elem_type), "gguf_value_int_array: ", gguf_value_type_name(elem_type),
            " is not an integer type");
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.elem_type = elem_type;
  v.ints = std::move(items);
  return v;
}

GgufValue gguf_value_float_array(GgufValueType elem_type, std::vector<double> items) {
  SLM_CHECK(elem_type == GgufValueType::FLOAT32 || elem_type == GgufValueType::FLOAT64, "gguf_value_float_array: ",
            gguf_value_type_name(elem_type), " is not a float type");
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.elem_type = elem_type;
  v.floats = std::move(items);
  return v;
}

GgufValue gguf_value_array_of_arrays(std::vector<GgufValue> items) {
  GgufValue v;
  v.type = v.elem_type = GgufValueType::ARRAY;
  v.arrays = std::move(items);
  return v;
}

// --- GgufWriter ---------------------------------------------------------------------------------

GgufWriter::GgufWriter() = default;
GgufWriter::~GgufWriter() = default;

bool GgufWriter::has(const std::string& key) const { return std::find(keys_.begin(), keys_.end(), key) != keys_.end(); }

void GgufWriter::set(const std::string& key, GgufValue value) {
  SLM_CHECK(!key.empty(), "GGUF metadata: empty key");
  SLM_CHECK(!has(key), "GGUF metadata '", key, "' is set twice; keys are unique");
  check_value(key, value, 0);
  if (key == "general.alignment") {
    const bool ok = value.type != GgufValueType::ARRAY && is_int_type(value.type) && value.type != GgufValueType::BOOL &&
                    value.ints[0] > 0 && value.ints[0] <= (1 << 30) && (value.ints[0] & (value.ints[0] - 1)) == 0;
    SLM_CHECK(ok, "GGUF metadata 'general.alignment' must be a positive power-of-two integer, got ",
              value.type_text());
    alignment_ = static_cast<std::size_t>(value.ints[0]);
  }
  keys_.push_back(key);
  values_.push_back(std::move(value));
}

void GgufWriter::set_string(const std::string& key, std::string value) { set(key, gguf_value_string(std::move(value))); }
void GgufWriter::set_u32(const std::string& key, std::uint32_t value) {
  set(key, gguf_value_int(GgufValueType::UINT32, value));
}
void GgufWriter::set_f32(const std::string& key, float value) { set(key, gguf_value_float(GgufValueType::FLOAT32, value)); }
void GgufWriter::set_bool(const std::string& key, bool value) { set(key, gguf_value_bool(value)); }

void GgufWriter::add(const std::string& name, std::vector<std::int64_t> dims, GgmlType type, GgufRowSource rows,
                     const void* raw) {
  SLM_CHECK(!name.empty() && name.size() <= k_max_name_bytes, "GGUF tensor '", name, "': names must be 1 to ",
            k_max_name_bytes, " bytes (ggml's limit)");
  for (const Tensor& t : tensors_)
    SLM_CHECK(t.name != name, "GGUF tensor '", name, "' is added twice; tensor names are unique");
  SLM_CHECK(!dims.empty() && dims.size() <= 4, "GGUF tensor '", name, "' has ", dims.size(),
            " dimensions; GGUF allows 1 to 4");
  std::int64_t n = 1;
  for (std::int64_t d : dims)
    SLM_CHECK(d > 0 && !__builtin_mul_overflow(n, d, &n), "GGUF tensor '", name,
              "': every dimension must be positive (and their product fit 64 bits), got ", d);
  const std::int64_t block = ggml_block_elements(type);
  SLM_CHECK(dims[0] % block == 0, "GGUF tensor '", name, "' of type ", ggml_type_name(type), " has ne[0] = ", dims[0],
            ", not a multiple of the block size ", block, "; store it as F32, F16 or BF16");
  SLM_CHECK(raw || ggml_type_quantizable(type), "GGUF tensor '", name, "': slmtune quantizes to F32, F16, BF16 and ",
            "Q8_0, not ", ggml_type_name(type));
  Tensor t;
  t.name = name;
  t.dims = std::move(dims);
  t.type = type;
  t.rows = std::move(rows);
  t.raw = raw;
  t.nbytes = static_cast<std::uint64_t>(n / block) * ggml_block_bytes(type);
  tensors_.push_back(std::move(t));
}

void GgufWriter::add_tensor(const std::string& name, std::vector<std::int64_t> dims, GgmlType type, GgufRowSource rows) {
  SLM_CHECK(rows != nullptr, "GGUF tensor '", name, "': no row source");
  add(name, std::move(dims), type, std::move(rows), nullptr);
}

void GgufWriter::add_tensor(const std::string& name, std::vector<std::int64_t> dims, GgmlType type, const float* data) {
  SLM_CHECK(data != nullptr, "GGUF tensor '", name, "': no data (null pointer)");
  const std::int64_t ne0 = dims.empty() ? 0 : dims[0];
  add(name, std::move(dims), type,
      [data, ne0](std::int64_t row, std::int64_t n, float* dst) {
        std::memcpy(dst, data + row * ne0, static_cast<std::size_t>(n * ne0) * sizeof(float));
      },
      nullptr);
}

void GgufWriter::add_tensor_raw(const std::string& name, std::vector<std::int64_t> dims, GgmlType type,
                                const void* bytes) {
  SLM_CHECK(bytes != nullptr, "GGUF tensor '", name, "': no data (null pointer)");
  add(name, std::move(dims), type, nullptr, bytes);
}

void GgufWriter::write(const std::filesystem::path& path) const {
  std::vector<const std::string*> keys;
  std::vector<const GgufValue*> values;
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    keys.push_back(&keys_[i]);
    values.push_back(&values_[i]);
  }
  const std::string alignment_key = "general.alignment";
  const GgufValue alignment_value = gguf_value_int(GgufValueType::UINT32, 32);
  if (!has(alignment_key)) {
    keys.push_back(&alignment_key);
    values.push_back(&alignment_value);
  }
  std::string header;
  put<std::uint32_t>(header, 0x46554747);  // "GGUF"
  put<std::uint32_t>(header, k_version);
  put<std::uint64_t>(header, tensors_.size());
  put<std::uint64_t>(header, keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    put_string(header, *keys[i]);
    put<std::uint32_t>(header, static_cast<std::uint32_t>(values[i]->type));
    put_payload(header, *values[i]);
  }
  std::uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(header, t.name);
    put<std::uint32_t>(header, static_cast<std::uint32_t>(t.dims.size()));
    for (std::int64_t d : t.dims) put<std::uint64_t>(header, static_cast<std::uint64_t>(d));
    put<std::uint32_t>(header, static_cast<std::uint32_t>(t.type));
    put<std::uint64_t>(header, offset);
    offset += padded(t.nbytes, alignment_);
  }
  header.append(padded(header.size(), alignment_) - header.size(), '\0');

  AtomicFileWriter out(path);
  out.write(header.data(), header.size());
  std::vector<float> floats;
  std::vector<std::uint8_t> bytes;
  const std::vector<std::uint8_t> zeros(alignment_, 0);
  for (const Tensor& t : tensors_) {
    try {
      write_tensor_data(out, t, floats, bytes);
    } catch (const Error& e) {
      SLM_FAIL(path.string(), ": tensor '", t.name, "': ", e.what());
    }
    out.write(zeros.data(), static_cast<std::size_t>(padded(t.nbytes, alignment_) - t.nbytes));
  }
  SLM_CHECK(out.written() == header.size() + offset, path.string(), ": wrote ", out.written(), " bytes, expected ",
            header.size() + offset, "; this is a bug in the GGUF writer");
  out.commit();
}

}  // namespace slm
