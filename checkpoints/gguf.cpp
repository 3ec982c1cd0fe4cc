// gguf.cpp — parsing and validation of GGUF headers, metadata and tensor tables.
//
// Every read goes through Cursor, which checks the bytes exist before touching them; every count
// and length is checked against the bytes left before anything is allocated for it. Holds no
// dequantization and no name mapping.
#include "checkpoints/gguf.h"

#include <algorithm>
#include <charconv>  // shortest float rendering
#include <cstring>
#include <limits>
#include <utility>

#include "checkpoints/gguf_quants.h"
#include "train/core/error.h"
#include "train/core/mapped_file.h"

namespace slm {
namespace {

constexpr std::uint32_t k_magic = 0x46554747;          // "GGUF" read as a little-endian u32
constexpr std::uint32_t k_magic_swapped = 0x47475546;  // the same bytes of a big-endian file
constexpr int k_max_array_depth = 8;
constexpr std::size_t k_max_dims = 4;
constexpr const char* k_hint_corrupt =
    "the file is truncated or corrupt; download or export it again";

// Smallest encoded size of one value of `type`, used to bound counts before allocating.
std::size_t min_value_bytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL:
      return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16:
      return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32:
      return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64:
      return 8;
    case GgufValueType::STRING:
      return 8;  // the length
    case GgufValueType::ARRAY:
      return 12;  // element type + count
  }
  return 1;
}

bool known_value_type(std::uint32_t t) { return t <= 12; }

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) {
  static constexpr std::string_view names[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                               "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                               "UINT64", "INT64",   "FLOAT64"};
  auto i = static_cast<std::uint32_t>(type);
  return i < 13 ? names[i] : std::string_view("unknown");
}

std::size_t GgufValue::size() const {
  switch (elem_type) {
    case GgufValueType::STRING:
      return strings.size();
    case GgufValueType::ARRAY:
      return arrays.size();
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64:
      return floats.size();
    default:
      return ints.size();
  }
}

std::string GgufValue::type_text() const {
  if (!is_array()) return std::string(gguf_value_type_name(type));
  std::string inner = elem_type == GgufValueType::ARRAY && !arrays.empty()
                          ? arrays.front().type_text()
                          : std::string(gguf_value_type_name(elem_type));
  return "ARRAY[" + inner + "]";
}

std::int64_t GgufTensor::num_elements() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;  // validated on open: no overflow
  return n;
}

// Reads a GGUF header and tensor table out of a map; all failures name the file and offset.
class GgufParser {
 public:
  GgufParser(GgufFile& out, const MappedFile& map)
      : out_(out), data_(map.data()), size_(map.size()), path_(map.path().string()) {}

  void parse();

 private:
  template <typename... Parts>
  [[noreturn]] void fail(std::size_t at, const Parts&... parts) const {
    SLM_FAIL(path_, ": byte ", at, ": ", parts...);
  }
  void need(std::size_t n, const char* what) const;
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what);
  void read_count_checked(std::uint64_t count, std::size_t min_each, std::size_t at,
                          const std::string& what) const;
  GgufValue read_value(GgufValueType type, const std::string& key);
  GgufValue read_array(int depth, const std::string& key);
  void read_scalar_into(GgufValue& v, GgufValueType type, const std::string& key);
  void read_header(std::uint64_t& n_tensors, std::uint64_t& n_kv);
  void read_metadata(std::uint64_t n_kv);
  void read_alignment();
  void read_tensor_info(std::size_t index);
  void check_tensor_data();

  GgufFile& out_;
  const std::uint8_t* data_;
  std::size_t size_;
  std::string path_;
  std::size_t pos_ = 0;
  std::vector<std::size_t> tensor_info_at_;  // file offset of each tensor's info, for errors
  std::size_t alignment_at_ = 0;             // file offset of general.alignment's value type
};

void GgufParser::need(std::size_t n, const char* what) const {
  if (n > size_ - pos_)
    fail(pos_, what, " needs ", n, " bytes but the file ends at byte ", size_, "; ",
         k_hint_corrupt);
}

std::string GgufParser::read_string(const char* what) {
  std::size_t at = pos_;
  auto len = read<std::uint64_t>(what);
  if (len > size_ - pos_)
    fail(at, what, ": string length ", len, " runs past the end of the file (", size_ - pos_,
         " bytes left); ", k_hint_corrupt);
  std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(len));
  pos_ += static_cast<std::size_t>(len);
  return s;
}

void GgufParser::read_count_checked(std::uint64_t count, std::size_t min_each, std::size_t at,
                                    const std::string& what) const {
  std::uint64_t left = size_ - pos_;
  if (count > left / min_each)
    fail(at, what, ": count ", count, " needs at least ", min_each, " bytes each but only ", left,
         " bytes are left in the file; ", k_hint_corrupt);
}

GgufValue GgufParser::read_array(int depth, const std::string& key) {
  std::size_t at = pos_;
  if (depth >= k_max_array_depth)
    fail(at, "metadata key '", key, "': arrays nested deeper than ", k_max_array_depth, " levels; ",
         k_hint_corrupt);
  auto elem = read<std::uint32_t>("array element type");
  if (!known_value_type(elem))
    fail(at, "metadata key '", key, "': unknown array element type ", elem,
         " (known: 0..12); the file is corrupt or from a newer GGUF version");
  auto count = read<std::uint64_t>("array length");
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.elem_type = static_cast<GgufValueType>(elem);
  read_count_checked(count, min_value_bytes(v.elem_type), at + 4,
                     "metadata key '" + key + "': array length");
  auto n = static_cast<std::size_t>(count);  // bounded by the bytes left: safe to reserve
  switch (v.elem_type) {
    case GgufValueType::ARRAY:
      v.arrays.reserve(n);
      break;
    case GgufValueType::STRING:
      v.strings.reserve(n);
      break;
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64:
      v.floats.reserve(n);
      break;
    default:
      v.ints.reserve(n);
      break;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (v.elem_type == GgufValueType::ARRAY)
      v.arrays.push_back(read_array(depth + 1, key));
    else
      read_scalar_into(v, v.elem_type, key);
  }
  return v;
}

void GgufParser::read_scalar_into(GgufValue& v, GgufValueType type, const std::string& key) {
  switch (type) {
    case GgufValueType::UINT8:
      v.ints.push_back(read<std::uint8_t>("UINT8 value"));
      break;
    case GgufValueType::INT8:
      v.ints.push_back(read<std::int8_t>("INT8 value"));
      break;
    case GgufValueType::UINT16:
      v.ints.push_back(read<std::uint16_t>("UINT16 value"));
      break;
    case GgufValueType::INT16:
      v.ints.push_back(read<std::int16_t>("INT16 value"));
      break;
    case GgufValueType::UINT32:
      v.ints.push_back(read<std::uint32_t>("UINT32 value"));
      break;
    case GgufValueType::INT32:
      v.ints.push_back(read<std::int32_t>("INT32 value"));
      break;
    case GgufValueType::UINT64:  // kept as its bits; get_int checks the range
      v.ints.push_back(static_cast<std::int64_t>(read<std::uint64_t>("UINT64 value")));
      break;
    case GgufValueType::INT64:
      v.ints.push_back(read<std::int64_t>("INT64 value"));
      break;
    case GgufValueType::FLOAT32:
      v.floats.push_back(read<float>("FLOAT32 value"));
      break;
    case GgufValueType::FLOAT64:
      v.floats.push_back(read<double>("FLOAT64 value"));
      break;
    case GgufValueType::BOOL: {
      std::size_t at = pos_;
      auto b = read<std::uint8_t>("BOOL value");
      if (b > 1)
        fail(at, "metadata key '", key, "': BOOL value ", int(b), " is neither 0 nor 1; ",
             k_hint_corrupt);
      v.ints.push_back(b);
      break;
    }
    case GgufValueType::STRING:
      v.strings.push_back(read_string("string value"));
      break;
    case GgufValueType::ARRAY:
      break;  // read_array's business
  }
}

GgufValue GgufParser::read_value(GgufValueType type, const std::string& key) {
  if (type == GgufValueType::ARRAY) return read_array(0, key);
  GgufValue v;
  v.type = v.elem_type = type;
  read_scalar_into(v, type, key);
  return v;
}

void GgufParser::read_header(std::uint64_t& n_tensors, std::uint64_t& n_kv) {
  if (size_ < 4)
    fail(0, "file is ", size_, " bytes, too short for a GGUF header; ", k_hint_corrupt);
  auto magic = read<std::uint32_t>("magic");
  if (magic == k_magic_swapped)
    fail(0,
         "big-endian GGUF files are not supported; convert it to little-endian with "
         "gguf-py's tools");
  if (magic != k_magic)
    fail(0,
         "bad magic: expected \"GGUF\", this is not a GGUF file (check the path; "
         "safetensors files end in .safetensors)");
  std::size_t at = pos_;
  out_.version_ = read<std::uint32_t>("version");
  if (out_.version_ == 1)
    fail(at,
         "GGUF version 1 is not supported (only 2 and 3); convert the model again with a "
         "current llama.cpp convert_hf_to_gguf.py");
  if (out_.version_ != 2 && out_.version_ != 3)
    fail(at, "unsupported GGUF version ", out_.version_,
         " (this reader handles 2 and 3); the file is corrupt or from a newer format");
  at = pos_;
  n_tensors = read<std::uint64_t>("tensor count");
  read_count_checked(n_tensors, 4 + 8 + 4 + 8 + 8, at, "tensor count");
  at = pos_;
  n_kv = read<std::uint64_t>("metadata key/value count");
  read_count_checked(n_kv, 8 + 4 + 1, at, "metadata key/value count");
}

void GgufParser::read_metadata(std::uint64_t n_kv) {
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::size_t at = pos_;
    std::string key = read_string("metadata key");
    if (out_.key_index_.count(key))
      fail(at, "metadata key '", key, "' appears twice; ", k_hint_corrupt);
    std::size_t type_at = pos_;
    auto type = read<std::uint32_t>("metadata value type");
    if (!known_value_type(type))
      fail(type_at, "metadata key '", key, "': unknown value type ", type,
           " (known: 0..12); the file is corrupt or from a newer GGUF version");
    if (key == "general.alignment") alignment_at_ = type_at;
    GgufValue v = read_value(static_cast<GgufValueType>(type), key);
    out_.key_index_.emplace(key, out_.keys_.size());
    out_.keys_.push_back(std::move(key));
    out_.values_.push_back(std::move(v));
  }
}

void GgufParser::read_alignment() {
  if (!out_.has("general.alignment")) return;
  const GgufValue& v = out_.get("general.alignment");
  std::int64_t a = v.ints.empty() || v.is_array() ? 0 : v.ints[0];
  if (v.is_array() || v.elem_type == GgufValueType::BOOL || v.ints.empty() || a <= 0 ||
      (a & (a - 1)) != 0 || a > (std::int64_t(1) << 30))
    fail(alignment_at_, "general.alignment must be a power of two integer (got ",
         out_.value_text("general.alignment"), " of type ", v.type_text(), "); ", k_hint_corrupt);
  out_.alignment_ = static_cast<std::size_t>(a);
}

void GgufParser::read_tensor_info(std::size_t index) {
  std::size_t at = pos_;
  tensor_info_at_.push_back(at);
  GgufTensor t;
  t.name = read_string("tensor name");
  if (out_.tensor_index_.count(t.name))
    fail(at, "tensor '", t.name, "' appears twice in the tensor table; ", k_hint_corrupt);
  std::size_t dims_at = pos_;
  auto n_dims = read<std::uint32_t>("tensor dimension count");
  if (n_dims == 0 || n_dims > k_max_dims)
    fail(dims_at, "tensor '", t.name, "' has ", n_dims, " dimensions (1 to ", k_max_dims,
         " allowed); ", k_hint_corrupt);
  std::int64_t n = 1;
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    auto ne = read<std::uint64_t>("tensor dimension");
    if (ne == 0 || ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        __builtin_mul_overflow(n, static_cast<std::int64_t>(ne), &n))
      fail(dims_at, "tensor '", t.name, "' has dimension ne[", d, "] = ", ne,
           ne == 0 ? " (empty tensors are not allowed)" : " (element count overflows)", "; ",
           k_hint_corrupt);
    t.dims.push_back(static_cast<std::int64_t>(ne));
  }
  std::size_t type_at = pos_;
  auto type_number = read<std::uint32_t>("tensor type");
  auto type = ggml_type_from_number(type_number);
  if (!type)
    fail(type_at, "tensor '", t.name, "' has type ", type_number, " (",
         ggml_type_number_name(type_number),
         "), which slmtune does not read; use a GGUF "
         "quantized as F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 or Q2_K..Q6_K");
  t.type = *type;
  std::int64_t block = ggml_block_elements(t.type);
  if (t.dims[0] % block != 0)
    fail(dims_at, "tensor '", t.name, "' of type ", ggml_type_name(t.type),
         " has ne[0] = ", t.dims[0], ", not a multiple of the block size ", block, "; ",
         k_hint_corrupt);
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(n / block),
                             static_cast<std::uint64_t>(ggml_block_bytes(t.type)), &bytes) ||
      bytes > size_)
    fail(dims_at, "tensor '", t.name, "' would need ", n / block, " blocks of ",
         ggml_block_bytes(t.type), " bytes, more than the whole file (", size_, " bytes); ",
         k_hint_corrupt);
  t.nbytes = static_cast<std::size_t>(bytes);
  t.offset = read<std::uint64_t>("tensor data offset");
  out_.tensor_index_.emplace(t.name, index);
  out_.tensors_.push_back(std::move(t));
}

void GgufParser::check_tensor_data() {
  auto& ts = out_.tensors_;
  std::size_t data_size = size_ - out_.data_offset_;
  std::vector<std::size_t> order(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    GgufTensor& t = ts[i];
    std::size_t at = tensor_info_at_[i];
    if (t.offset % out_.alignment_ != 0)
      fail(at, "tensor '", t.name, "': data offset ", t.offset,
           " is not a multiple of the "
           "alignment ",
           out_.alignment_, "; ", k_hint_corrupt);
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail(at, "tensor '", t.name, "': data [", t.offset, ", ", t.offset + t.nbytes,
           ") relative to the data section at byte ", out_.data_offset_,
           " runs past the end of the file (", data_size, " data bytes); ", k_hint_corrupt);
    t.data = data_ + out_.data_offset_ + t.offset;
    order[i] = i;
  }
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return ts[a].offset < ts[b].offset; });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const GgufTensor& prev = ts[order[k - 1]];
    const GgufTensor& cur = ts[order[k]];
    if (cur.offset < prev.offset + prev.nbytes)
      fail(tensor_info_at_[order[k]], "tensor '", cur.name, "' (data offset ", cur.offset,
           ") overlaps tensor '", prev.name, "' (data [", prev.offset, ", ",
           prev.offset + prev.nbytes, ")); ", k_hint_corrupt);
  }
}

void GgufParser::parse() {
  std::uint64_t n_tensors = 0, n_kv = 0;
  read_header(n_tensors, n_kv);
  read_metadata(n_kv);
  read_alignment();
  out_.tensors_.reserve(static_cast<std::size_t>(n_tensors));
  for (std::uint64_t i = 0; i < n_tensors; ++i) read_tensor_info(static_cast<std::size_t>(i));
  std::size_t a = out_.alignment_;
  std::size_t start = (pos_ + a - 1) / a * a;
  if (n_tensors > 0 && start > size_)
    fail(pos_, "the tensor data section (aligned to byte ", start,
         ") starts past the end of "
         "the file; ",
         k_hint_corrupt);
  out_.data_offset_ = std::min(start, size_);
  check_tensor_data();
}

// --- GgufFile ---------------------------------------------------------------------------------

GgufFile::GgufFile() = default;
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::filesystem::path& path) {
  GgufFile f;
  f.map_ = std::make_unique<MappedFile>(path, "GGUF file");
  GgufParser(f, *f.map_).parse();
  return f;
}

const std::filesystem::path& GgufFile::path() const { return map_->path(); }
std::size_t GgufFile::file_size() const { return map_->size(); }

bool GgufFile::has(std::string_view key) const { return key_index_.find(key) != key_index_.end(); }

const GgufValue& GgufFile::get(std::string_view key) const {
  auto it = key_index_.find(key);
  if (it == key_index_.end())
    SLM_FAIL(path().string(), ": metadata key '", key,
             "' is missing; check the file with "
             "`slmtune inspect` (it may be for a different architecture or converter)");
  return values_[it->second];
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// --- typed getters ----------------------------------------------------------------------------

namespace {

bool is_integer(GgufValueType t) {
  return t != GgufValueType::FLOAT32 && t != GgufValueType::FLOAT64 && t != GgufValueType::STRING &&
         t != GgufValueType::ARRAY;
}
bool is_float(GgufValueType t) {
  return t == GgufValueType::FLOAT32 || t == GgufValueType::FLOAT64;
}

std::string float_text(double x, GgufValueType t) {
  char buf[64];
  auto r = t == GgufValueType::FLOAT32 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(x))
                                       : std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

std::string int_text(std::int64_t x, GgufValueType t) {
  if (t == GgufValueType::BOOL) return x ? "true" : "false";
  if (t == GgufValueType::UINT64) return std::to_string(static_cast<std::uint64_t>(x));
  return std::to_string(x);
}

std::string string_text(const std::string& s, std::size_t max_bytes = 200) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    char c = s[i];
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\\')
      out += "\\\\";
    else if (static_cast<unsigned char>(c) < 0x20)
      out += "\\x" + std::to_string(int(c));
    else
      out += c;
  }
  out += "\"";
  if (s.size() > max_bytes) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string element_text(const GgufValue& v, std::size_t i, std::size_t max_elements);

std::string value_text_of(const GgufValue& v, std::size_t max_elements) {
  if (!v.is_array()) return element_text(v, 0, max_elements);
  std::string out = "[";
  std::size_t n = v.size(), shown = std::min(n, max_elements);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    out += element_text(v, i, max_elements);
  }
  if (shown < n) out += (shown ? ", ... (" : "... (") + std::to_string(n) + " total)";
  return out + "]";
}

std::string element_text(const GgufValue& v, std::size_t i, std::size_t max_elements) {
  switch (v.elem_type) {
    case GgufValueType::STRING:
      return string_text(v.strings[i], v.is_array() ? 40 : 200);
    case GgufValueType::ARRAY:
      return value_text_of(v.arrays[i], max_elements);
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64:
      return float_text(v.floats[i], v.elem_type);
    default:
      return int_text(v.ints[i], v.elem_type);
  }
}

}  // namespace

[[noreturn]] static void type_mismatch(const GgufFile& f, std::string_view key, const GgufValue& v,
                                       const char* expected) {
  SLM_FAIL(f.path().string(), ": metadata key '", key, "' is ", v.type_text(), ", expected ",
           expected,
           "; the file may come from a different converter, check it with "
           "`slmtune inspect`");
}

static std::int64_t checked_int(const GgufFile& f, std::string_view key, const GgufValue& v,
                                std::int64_t x) {
  if (v.elem_type == GgufValueType::UINT64 && x < 0)
    SLM_FAIL(f.path().string(), ": metadata key '", key, "' holds ", static_cast<std::uint64_t>(x),
             ", which does not fit a signed 64-bit integer; the file is likely corrupt");
  return x;
}

static double as_double(const GgufValue& v, std::size_t i) {
  if (is_float(v.elem_type)) return v.floats[i];
  if (v.elem_type == GgufValueType::UINT64)
    return static_cast<double>(static_cast<std::uint64_t>(v.ints[i]));
  return static_cast<double>(v.ints[i]);
}

std::string GgufFile::get_string(std::string_view key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufValueType::STRING) type_mismatch(*this, key, v, "STRING");
  return v.strings[0];
}

std::int64_t GgufFile::get_int(std::string_view key) const {
  const GgufValue& v = get(key);
  if (v.is_array() || !is_integer(v.type)) type_mismatch(*this, key, v, "an integer");
  return checked_int(*this, key, v, v.ints[0]);
}

double GgufFile::get_float(std::string_view key) const {
  const GgufValue& v = get(key);
  if (v.is_array() || v.type == GgufValueType::STRING || v.type == GgufValueType::BOOL)
    type_mismatch(*this, key, v, "a number");
  return as_double(v, 0);
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue& v = get(key);
  if (v.type != GgufValueType::BOOL) type_mismatch(*this, key, v, "BOOL");
  return v.ints[0] != 0;
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || v.elem_type != GgufValueType::STRING)
    type_mismatch(*this, key, v, "ARRAY[STRING]");
  return v.strings;
}

std::vector<std::int64_t> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || !is_integer(v.elem_type)) type_mismatch(*this, key, v, "an integer array");
  for (std::int64_t x : v.ints) checked_int(*this, key, v, x);
  return v.ints;
}

std::vector<double> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue& v = get(key);
  if (!v.is_array() || v.elem_type == GgufValueType::STRING ||
      v.elem_type == GgufValueType::ARRAY || v.elem_type == GgufValueType::BOOL)
    type_mismatch(*this, key, v, "a numeric array");
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = as_double(v, i);
  return out;
}

std::string GgufFile::value_text(std::string_view key, std::size_t max_elements) const {
  return value_text_of(get(key), max_elements);
}

}  // namespace slm
