// safetensors.cpp — opening and validating one safetensors file; reading tensors as fp32.
//
// Every number taken from the header is checked before use: the header length against the file,
// each tensor's byte range against the data section, its length against dtype and shape (with
// overflow checks), and the ranges against each other (no overlaps, no holes). A bad file is an
// slm::Error, never an out-of-bounds read. The checkpoint (shards) is in safetensors_checkpoint.cpp,
// the writer in safetensors_write.cpp.
#include "checkpoints/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <utility>

#include "checkpoints/json_util.h"
#include "train/core/error.h"

namespace slm {
namespace {

using nlohmann::json;

constexpr std::uint64_t k_max_header_bytes = 100ull << 20;  // 100 MB; real headers are a few MB at most
constexpr std::string_view k_damaged = "the file is damaged or was not written by a safetensors writer; "
                                       "download or export it again";

// safetensors dtypes that are valid in the format but that slmtune does not read.
constexpr std::array<std::string_view, 9> k_other_dtypes = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3",
                                                           "F6_E3M2",  "U16",     "U32",     "U64"};

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Parsed {
  std::uint64_t header_size = 0;
  std::vector<SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Checks the 8-byte length prefix; returns N, the header length.
std::uint64_t check_header_length(const MappedFile& map) {
  const std::string file = map.path().string();
  if (map.size() < 8)
    SLM_FAIL(file, ": file is ", map.size(), " bytes, shorter than the 8-byte header length that starts every "
             "safetensors file; it is truncated or not a safetensors file");
  const std::uint64_t n = read_u64_le(map.data());
  const bool looks_gguf = std::memcmp(map.data(), "GGUF", 4) == 0;
  if (n > k_max_header_bytes)
    SLM_FAIL(file, ": byte 0: header length ", n, " is larger than the 100 MB limit; ",
             looks_gguf ? "this is a GGUF file (it starts with 'GGUF'): open it as GGUF"
                        : "this is not a safetensors file or its first 8 bytes are damaged");
  if (n > map.size() - 8)
    SLM_FAIL(file, ": byte 0: header length ", n, " runs past the end of the file (", map.size(),
             " bytes, so at most ", map.size() - 8, " header bytes); the file is truncated: download or export it again");
  if (n == 0) SLM_FAIL(file, ": byte 0: header length is 0; a safetensors header is at least '{}'; ", k_damaged);
  return n;
}

std::vector<std::int64_t> parse_shape(const std::string& file, const std::string& name, const json& shape) {
  if (!shape.is_array())
    SLM_FAIL(file, ": tensor '", name, "': \"shape\" must be an array of integers, got ", json_type_name(shape), "; ",
             k_damaged);
  std::vector<std::int64_t> dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const json& d = shape[i];
    if (!d.is_number_integer())
      SLM_FAIL(file, ": tensor '", name, "': shape[", i, "] must be an integer, got ", json_type_name(d), " ", d.dump(),
               "; ", k_damaged);
    if (d.is_number_unsigned()) {
      if (d.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        SLM_FAIL(file, ": tensor '", name, "': shape[", i, "] = ", d.dump(), " is too large; ", k_damaged);
    } else if (d.get<std::int64_t>() < 0) {
      SLM_FAIL(file, ": tensor '", name, "': shape[", i, "] = ", d.dump(), " is negative; dimensions are >= 0; ",
               k_damaged);
    }
    dims.push_back(d.get<std::int64_t>());
  }
  return dims;
}

DType parse_dtype(const std::string& file, const std::string& name, const json& dtype) {
  if (!dtype.is_string())
    SLM_FAIL(file, ": tensor '", name, "': \"dtype\" must be a string, got ", json_type_name(dtype), "; ", k_damaged);
  const std::string text = dtype.get<std::string>();
  if (auto t = dtype_from_name(text)) return *t;
  if (std::find(k_other_dtypes.begin(), k_other_dtypes.end(), text) != k_other_dtypes.end())
    SLM_FAIL(file, ": tensor '", name, "': dtype ", text, " is valid safetensors but slmtune does not read it; "
             "convert the checkpoint to F32, F16 or BF16 (e.g. with transformers' save_pretrained)");
  SLM_FAIL(file, ": tensor '", name, "': unknown dtype \"", text,
           "\"; safetensors dtypes are F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL (and F8/U16-U64, not read here); ",
           k_damaged);
}

// Returns {begin, end} after checking they are two non-negative integers with begin <= end <= data_size.
std::pair<std::uint64_t, std::uint64_t> parse_offsets(const std::string& file, const std::string& name,
                                                      const json& offsets, std::uint64_t data_size) {
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    SLM_FAIL(file, ": tensor '", name, "': \"data_offsets\" must be two non-negative integers [begin, end], got ",
             offsets.dump(), "; ", k_damaged);
  const std::uint64_t begin = offsets[0].get<std::uint64_t>();
  const std::uint64_t end = offsets[1].get<std::uint64_t>();
  if (begin > end)
    SLM_FAIL(file, ": tensor '", name, "': data_offsets [", begin, ", ", end, "] decrease; begin must be <= end; ",
             k_damaged);
  if (end > data_size)
    SLM_FAIL(file, ": tensor '", name, "': data_offsets [", begin, ", ", end, "] end beyond the data section (",
             data_size, " bytes); the file is truncated or damaged: download or export it again");
  return {begin, end};
}

// Checks an entry of the header and builds its tensor (data pointing into the map).
SafetensorsTensor parse_entry(const std::string& file, const std::string& name, const json& entry,
                              const std::uint8_t* data, std::uint64_t data_size) {
  if (!entry.is_object())
    SLM_FAIL(file, ": tensor '", name, "': entry must be an object {dtype, shape, data_offsets}, got ",
             json_type_name(entry), "; ", k_damaged);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) SLM_FAIL(file, ": tensor '", name, "': entry has no \"", key, "\"; ", k_damaged);
  SafetensorsTensor t;
  t.name = name;
  t.dtype = parse_dtype(file, name, entry["dtype"]);
  t.shape = parse_shape(file, name, entry["shape"]);
  const auto [begin, end] = parse_offsets(file, name, entry["data_offsets"], data_size);
  std::uint64_t expected = dtype_size(t.dtype);
  for (std::int64_t d : t.shape)
    if (__builtin_mul_overflow(expected, static_cast<std::uint64_t>(d), &expected))
      SLM_FAIL(file, ": tensor '", name, "': the byte size of shape ", entry["shape"].dump(), " overflows 64 bits; ",
               k_damaged);
  if (end - begin != expected)
    SLM_FAIL(file, ": tensor '", name, "' at data offset ", begin, ": holds ", end - begin, " bytes but ",
             dtype_name(t.dtype), " ", entry["shape"].dump(), " needs ", expected, "; ", k_damaged);
  t.data = data + begin;
  t.nbytes = static_cast<std::size_t>(expected);
  t.begin = begin;
  return t;
}

std::map<std::string, std::string> parse_metadata(const std::string& file, const json& value) {
  if (!value.is_object())
    SLM_FAIL(file, ": \"__metadata__\" must be an object of strings, got ", json_type_name(value), "; ", k_damaged);
  std::map<std::string, std::string> metadata;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string())
      SLM_FAIL(file, ": \"__metadata__\" key \"", key, "\" must be a string, got ", json_type_name(v), " ", v.dump(),
               "; the format allows only string values; ", k_damaged);
    metadata[key] = v.get<std::string>();
  }
  return metadata;
}

// Sorts by offset and checks that the tensors tile [0, data_size) exactly: no overlaps, no holes.
void check_coverage(const std::string& file, std::vector<SafetensorsTensor>& tensors, std::uint64_t data_size,
                    std::uint64_t data_start) {
  std::sort(tensors.begin(), tensors.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.nbytes != b.nbytes) return a.nbytes < b.nbytes;
    return a.name < b.name;
  });
  std::uint64_t covered = 0;  // end of the bytes indexed so far
  const SafetensorsTensor* previous = nullptr;
  for (const SafetensorsTensor& t : tensors) {
    if (t.begin < covered)
      SLM_FAIL(file, ": tensor '", t.name, "' [", t.begin, ", ", t.begin + t.nbytes, ") overlaps tensor '",
               previous->name, "' [", previous->begin, ", ", covered, ") in the data section; ", k_damaged);
    if (t.begin > covered)
      SLM_FAIL(file, ": data bytes [", covered, ", ", t.begin, ") (file offsets ", data_start + covered, " to ",
               data_start + t.begin, ") before tensor '", t.name, "' belong to no tensor; the format requires the "
               "data section to be entirely indexed; ", k_damaged);
    covered = t.begin + t.nbytes;
    if (t.nbytes > 0 || previous == nullptr) previous = &t;
  }
  if (covered != data_size)
    SLM_FAIL(file, ": data bytes [", covered, ", ", data_size, ") (file offsets ", data_start + covered, " to ",
             data_start + data_size, ") after the last tensor belong to no tensor; the format requires the data "
             "section to be entirely indexed; ", k_damaged);
}

Parsed parse_file(const MappedFile& map) {
  const std::string file = map.path().string();
  Parsed out;
  out.header_size = check_header_length(map);
  const std::string_view text(reinterpret_cast<const char*>(map.data()) + 8, out.header_size);
  const json header = parse_json_strict(text, file, "the safetensors header", 8, true, k_damaged);
  if (!header.is_object())
    SLM_FAIL(file, ": the header must be a JSON object of tensors, got ", json_type_name(header), "; ", k_damaged);
  const std::uint8_t* data = map.data() + 8 + out.header_size;
  const std::uint64_t data_size = map.size() - 8 - out.header_size;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      out.metadata = parse_metadata(file, entry);
      continue;
    }
    out.tensors.push_back(parse_entry(file, name, entry, data, data_size));
  }
  check_coverage(file, out.tensors, data_size, 8 + out.header_size);
  return out;
}

}  // namespace

std::int64_t SafetensorsTensor::num_elements() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;  // cannot overflow: open() checked n * dtype size
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile f(MappedFile(path, "safetensors file"));
  Parsed parsed = parse_file(f.map_);
  f.header_size_ = parsed.header_size;
  f.tensors_ = std::move(parsed.tensors);
  f.metadata_ = std::move(parsed.metadata);
  for (std::size_t i = 0; i < f.tensors_.size(); ++i) f.by_name_.emplace(f.tensors_[i].name, i);
  return f;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

void read_tensor_fp32(const SafetensorsTensor& t, float* dst) {
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    SLM_FAIL("tensor '", t.name, "' is ", dtype_name(t.dtype),
             "; only F32, F16 and BF16 tensors can be read as weights: convert the checkpoint to one of them");
  const std::size_t n = static_cast<std::size_t>(t.num_elements());
  const std::size_t size = dtype_size(t.dtype);
  if (reinterpret_cast<std::uintptr_t>(t.data) % size == 0) {
    convert_to_fp32(t.dtype, t.data, dst, n);
    return;
  }
  // Unaligned (a writer without padding): copy through an aligned buffer, a chunk at a time.
  constexpr std::size_t k_chunk = 4096;
  alignas(8) std::uint8_t buffer[k_chunk * 4];
  for (std::size_t done = 0; done < n; done += k_chunk) {
    const std::size_t count = std::min(k_chunk, n - done);
    std::memcpy(buffer, t.data + done * size, count * size);
    convert_to_fp32(t.dtype, buffer, dst + done, count);
  }
}

}  // namespace slm
