// shards.cpp — writing and reading HDF5 data shards with the HDF5 C API (schema in shards.h).
#include "data/shards.h"

#include <unistd.h>  // getpid: unique temporary names

#include "data/hdf5_check.h"
#include "train/core/error.h"

namespace slm {
namespace fs = std::filesystem;
namespace {

constexpr const char* k_hint =
    "the file is not a complete slmtune shard; delete it (or its cache folder) and rerun `slmtune prepare`";

herr_t collect_first_error(unsigned n, const H5E_error2_t* err, void* out) {
  auto* text = static_cast<std::string*>(out);
  if (n == 0 && err->desc) *text = std::string(err->func_name ? err->func_name : "") + ": " + err->desc;
  return 0;
}

// ---- writing ----

// Contiguous layout: the loader reads single rows at random, which chunked+compressed layouts
// would turn into whole-chunk decompressions.
template <class T>
void write_dataset(hid_t file, const char* name, hid_t type, const T* data, std::vector<hsize_t> dims, const fs::path& path) {
  H5Handle space(SLM_H5(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), path), H5Sclose);
  bool empty = false;
  for (hsize_t d : dims) empty |= d == 0;
  H5Handle set(SLM_H5(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path), H5Dclose);
  if (!empty) SLM_H5(H5Dwrite(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path);
}

void write_int_attr(hid_t file, const char* name, std::int64_t value, const fs::path& path) {
  H5Handle space(SLM_H5(H5Screate(H5S_SCALAR), path), H5Sclose);
  H5Handle attr(SLM_H5(H5Acreate2(file, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), path), H5Aclose);
  SLM_H5(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), path);
}

H5Handle utf8_string_type(const fs::path& path) {
  H5Handle type(SLM_H5(H5Tcopy(H5T_C_S1), path), H5Tclose);
  SLM_H5(H5Tset_size(type.get(), H5T_VARIABLE), path);
  SLM_H5(H5Tset_cset(type.get(), H5T_CSET_UTF8), path);
  return type;
}

void write_string_attr(hid_t file, const char* name, const std::vector<std::string>& values, bool scalar, const fs::path& path) {
  H5Handle type = utf8_string_type(path);
  hsize_t n = values.size();
  H5Handle space(SLM_H5(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), path), H5Sclose);
  std::vector<const char*> ptrs;
  for (const std::string& v : values) ptrs.push_back(v.c_str());
  H5Handle attr(SLM_H5(H5Acreate2(file, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), path), H5Aclose);
  if (!ptrs.empty()) SLM_H5(H5Awrite(attr.get(), type.get(), ptrs.data()), path);
}

void write_attributes(hid_t file, const ShardInfo& info, const fs::path& path) {
  write_int_attr(file, "format_version", info.format_version, path);
  write_string_attr(file, "tokenizer_hash", {info.tokenizer_hash}, true, path);
  write_string_attr(file, "chat_template_hash", {info.chat_template_hash}, true, path);
  write_int_attr(file, "seq_len", info.seq_len, path);
  const PackStats& s = info.stats;
  const std::pair<const char*, std::int64_t> counts[] = {
      {"examples", s.examples}, {"tokens", s.tokens}, {"trained_tokens", s.trained_tokens},
      {"truncated", s.truncated}, {"dropped", s.dropped}, {"untrained", s.untrained},
      {"padding_tokens", s.padding_tokens}};
  for (const auto& [name, value] : counts) write_int_attr(file, name, value, path);
  write_string_attr(file, "source_files", info.source_files, false, path);
}

// ---- reading ----

bool has_attr(hid_t file, const char* name) { return H5Aexists(file, name) > 0; }

std::int64_t read_int_attr(hid_t file, const char* name, const fs::path& path) {
  if (!has_attr(file, name)) SLM_FAIL(path.string(), ": attribute '", name, "' is missing; ", k_hint);
  H5Handle attr(SLM_H5(H5Aopen(file, name, H5P_DEFAULT), path), H5Aclose);
  std::int64_t value = 0;
  SLM_H5(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), path);
  return value;
}

std::vector<std::string> read_string_attr(hid_t file, const char* name, const fs::path& path) {
  if (!has_attr(file, name)) SLM_FAIL(path.string(), ": attribute '", name, "' is missing; ", k_hint);
  H5Handle attr(SLM_H5(H5Aopen(file, name, H5P_DEFAULT), path), H5Aclose);
  H5Handle space(SLM_H5(H5Aget_space(attr.get()), path), H5Sclose);
  const hssize_t n = SLM_H5(H5Sget_simple_extent_npoints(space.get()), path);
  H5Handle type = utf8_string_type(path);
  std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
  std::vector<std::string> values;
  if (n == 0) return values;
  SLM_H5(H5Aread(attr.get(), type.get(), ptrs.data()), path);
  for (char* p : ptrs) values.emplace_back(p ? p : "");
  H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return values;
}

ShardInfo read_info(hid_t file, const fs::path& path) {
  ShardInfo info;
  info.format_version = read_int_attr(file, "format_version", path);
  if (info.format_version != k_shard_format_version)
    SLM_FAIL(path.string(), ": shard format_version ", info.format_version, ", this slmtune reads version ",
             k_shard_format_version, "; rerun `slmtune prepare` to rebuild the shards");
  info.tokenizer_hash = read_string_attr(file, "tokenizer_hash", path).at(0);
  info.chat_template_hash = read_string_attr(file, "chat_template_hash", path).at(0);
  info.seq_len = read_int_attr(file, "seq_len", path);
  PackStats& s = info.stats;
  s.examples = read_int_attr(file, "examples", path);
  s.tokens = read_int_attr(file, "tokens", path);
  s.trained_tokens = read_int_attr(file, "trained_tokens", path);
  s.truncated = read_int_attr(file, "truncated", path);
  s.dropped = read_int_attr(file, "dropped", path);
  s.untrained = read_int_attr(file, "untrained", path);
  s.padding_tokens = read_int_attr(file, "padding_tokens", path);
  info.source_files = read_string_attr(file, "source_files", path);
  return info;
}

H5Handle open_file(const fs::path& path) {
  h5_quiet();
  if (!fs::exists(path)) SLM_FAIL(path.string(), ": data shard not found; run `slmtune prepare RECIPE` to write it");
  if (H5Fis_hdf5(path.c_str()) <= 0)
    SLM_FAIL(path.string(), ": not an HDF5 file; ", k_hint);
  return H5Handle(SLM_H5(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path), H5Fclose);
}

// Dimensions of dataset `name`, which must exist with `rank` dimensions.
std::vector<hsize_t> dataset_dims(hid_t set, int rank, const char* name, const fs::path& path) {
  H5Handle space(SLM_H5(H5Dget_space(set), path), H5Sclose);
  if (H5Sget_simple_extent_ndims(space.get()) != rank)
    SLM_FAIL(path.string(), ": dataset '", name, "' should have ", rank, " dimensions; ", k_hint);
  std::vector<hsize_t> dims(rank);
  SLM_H5(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), path);
  return dims;
}

H5Handle open_dataset(hid_t file, const char* name, const fs::path& path) {
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) SLM_FAIL(path.string(), ": dataset '", name, "' is missing; ", k_hint);
  return H5Handle(SLM_H5(H5Dopen2(file, name, H5P_DEFAULT), path), H5Dclose);
}

template <class T>
std::vector<T> read_all(hid_t file, const char* name, hid_t mem_type, const fs::path& path) {
  H5Handle set = open_dataset(file, name, path);
  std::vector<hsize_t> dims = dataset_dims(set.get(), 1, name, path);
  std::vector<T> values(dims[0]);
  if (!values.empty()) SLM_H5(H5Dread(set.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), path);
  return values;
}

}  // namespace

void h5_quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

void h5_fail(const char* call, const fs::path& file) {
  std::string detail;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_first_error, &detail);
  H5Eclear2(H5E_DEFAULT);
  SLM_FAIL(file.string(), ": HDF5 call ", call, " failed", detail.empty() ? "" : " (" + detail + ")",
           "; check that the path is writable and the disk has space, or delete the file and rerun `slmtune prepare`");
}

void write_shard(const fs::path& path, const PackedRows& rows, ShardInfo info) {
  h5_quiet();
  info.seq_len = rows.seq_len;
  info.rows = rows.rows();
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(getpid());
  {
    H5Handle file(SLM_H5(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp), H5Fclose);
    const auto r = static_cast<hsize_t>(rows.rows()), t = static_cast<hsize_t>(rows.seq_len);
    write_dataset(file.get(), "tokens", H5T_NATIVE_INT32, rows.tokens.data(), {r, t}, tmp);
    write_dataset(file.get(), "loss_mask", H5T_NATIVE_UINT8, rows.mask.data(), {r, t}, tmp);
    write_dataset(file.get(), "doc_offsets", H5T_NATIVE_INT32, rows.doc_offsets.data(), {rows.doc_offsets.size()}, tmp);
    write_dataset(file.get(), "row_doc_index", H5T_NATIVE_INT64, rows.row_doc_index.data(), {rows.row_doc_index.size()}, tmp);
    write_attributes(file.get(), info, tmp);
    SLM_H5(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) SLM_FAIL(path.string(), ": cannot rename the finished shard into place (", ec.message(), ")");
}

ShardInfo read_shard_info(const fs::path& path) {
  H5Handle file = open_file(path);
  return read_info(file.get(), path);
}

struct ShardReader::Impl {
  fs::path path;
  H5Handle file, tokens, mask;
  ShardInfo info;
  std::vector<std::int32_t> doc_offsets;
  std::vector<std::int64_t> row_doc_index;
};

ShardReader::ShardReader(const fs::path& path, const ShardExpect& expect) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.path = path;
  s.file = open_file(path);
  s.info = read_info(s.file.get(), path);
  if (!expect.tokenizer_hash.empty() && expect.tokenizer_hash != s.info.tokenizer_hash)
    SLM_FAIL(path.string(), ": this data was prepared for another tokenizer (hash ", s.info.tokenizer_hash,
             ", the model's is ", expect.tokenizer_hash, "); rerun `slmtune prepare RECIPE` for this model");
  if (expect.chat_template_hash && *expect.chat_template_hash != s.info.chat_template_hash)
    SLM_FAIL(path.string(), ": this data was rendered with another chat template (hash ", s.info.chat_template_hash,
             ", expected ", *expect.chat_template_hash, "); rerun `slmtune prepare RECIPE`");
  if (expect.seq_len > 0 && expect.seq_len != s.info.seq_len)
    SLM_FAIL(path.string(), ": rows hold ", s.info.seq_len, " tokens but data.seq_len is ", expect.seq_len,
             "; rerun `slmtune prepare RECIPE`");
  s.tokens = open_dataset(s.file.get(), "tokens", path);
  s.mask = open_dataset(s.file.get(), "loss_mask", path);
  const std::vector<hsize_t> td = dataset_dims(s.tokens.get(), 2, "tokens", path);
  const std::vector<hsize_t> md = dataset_dims(s.mask.get(), 2, "loss_mask", path);
  s.doc_offsets = read_all<std::int32_t>(s.file.get(), "doc_offsets", H5T_NATIVE_INT32, path);
  s.row_doc_index = read_all<std::int64_t>(s.file.get(), "row_doc_index", H5T_NATIVE_INT64, path);
  s.info.rows = static_cast<std::int64_t>(td[0]);
  if (td != md || static_cast<std::int64_t>(td[1]) != s.info.seq_len ||
      s.row_doc_index.size() != td[0] + 1 || s.row_doc_index.front() != 0 ||
      s.row_doc_index.back() != static_cast<std::int64_t>(s.doc_offsets.size()))
    SLM_FAIL(path.string(), ": dataset shapes disagree (tokens, loss_mask, row_doc_index, doc_offsets); ", k_hint);
  for (std::size_t r = 0; r + 1 < s.row_doc_index.size(); ++r)
    if (s.row_doc_index[r + 1] - s.row_doc_index[r] < 2 || s.doc_offsets[s.row_doc_index[r]] != 0 ||
        s.doc_offsets[s.row_doc_index[r + 1] - 1] != s.info.seq_len)
      SLM_FAIL(path.string(), ": row ", r, " has malformed document offsets; ", k_hint);
}

ShardReader::ShardReader(ShardReader&&) noexcept = default;
ShardReader& ShardReader::operator=(ShardReader&&) noexcept = default;
ShardReader::~ShardReader() = default;

std::int64_t ShardReader::num_rows() const { return impl_->info.rows; }
std::int64_t ShardReader::seq_len() const { return impl_->info.seq_len; }
const ShardInfo& ShardReader::info() const { return impl_->info; }
const fs::path& ShardReader::path() const { return impl_->path; }

void ShardReader::read_row(std::int64_t i, std::int32_t* tokens, std::uint8_t* mask, std::vector<std::int32_t>& doc_starts) const {
  const Impl& s = *impl_;
  if (i < 0 || i >= s.info.rows) SLM_FAIL(s.path.string(), ": row ", i, " is out of range (", s.info.rows, " rows)");
  const hsize_t start[2] = {static_cast<hsize_t>(i), 0}, count[2] = {1, static_cast<hsize_t>(s.info.seq_len)};
  H5Handle mem(SLM_H5(H5Screate_simple(2, count, nullptr), s.path), H5Sclose);
  H5Handle space(SLM_H5(H5Dget_space(s.tokens.get()), s.path), H5Sclose);
  SLM_H5(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), s.path);
  SLM_H5(H5Dread(s.tokens.get(), H5T_NATIVE_INT32, mem.get(), space.get(), H5P_DEFAULT, tokens), s.path);
  SLM_H5(H5Dread(s.mask.get(), H5T_NATIVE_UINT8, mem.get(), space.get(), H5P_DEFAULT, mask), s.path);
  doc_starts.assign(s.doc_offsets.begin() + s.row_doc_index[i], s.doc_offsets.begin() + s.row_doc_index[i + 1]);
}

}  // namespace slm
