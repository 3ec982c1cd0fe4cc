// shards.cpp — writing and reading HDF5 data shards with the HDF5 C API (schema in shards.h).
#include "data/shards.h"

#include <unistd.h>  // getpid: unique temporary names

#include "checkpoints/hdf5_io.h"
#include "train/core/files.h"
#include "train/core/error.h"

namespace slm {
namespace fs = std::filesystem;
namespace {

constexpr const char* k_hint =
    "the file is not a complete slmtune shard; delete it (or its cache folder) and rerun `slmtune prepare`";

void write_attributes(H5File& file, const ShardInfo& info) {
  file.write_int_attr("format_version", info.format_version);
  file.write_string_attr("tokenizer_hash", {info.tokenizer_hash}, true);
  file.write_string_attr("chat_template_hash", {info.chat_template_hash}, true);
  file.write_int_attr("seq_len", info.seq_len);
  const PackStats& s = info.stats;
  const std::pair<const char*, std::int64_t> counts[] = {
      {"examples", s.examples}, {"tokens", s.tokens}, {"trained_tokens", s.trained_tokens},
      {"truncated", s.truncated}, {"dropped", s.dropped}, {"untrained", s.untrained},
      {"padding_tokens", s.padding_tokens}};
  for (const auto& [name, value] : counts) file.write_int_attr(name, value);
  file.write_string_attr("source_files", info.source_files, false);
}

ShardInfo read_info(const H5File& file) {
  ShardInfo info;
  info.format_version = file.read_int_attr("format_version");
  if (info.format_version != k_shard_format_version)
    SLM_FAIL(file.path().string(), ": shard format_version ", info.format_version, ", this slmtune reads version ",
             k_shard_format_version, "; rerun `slmtune prepare` to rebuild the shards");
  info.tokenizer_hash = file.read_string_attr("tokenizer_hash").at(0);
  info.chat_template_hash = file.read_string_attr("chat_template_hash").at(0);
  info.seq_len = file.read_int_attr("seq_len");
  PackStats& s = info.stats;
  s.examples = file.read_int_attr("examples");
  s.tokens = file.read_int_attr("tokens");
  s.trained_tokens = file.read_int_attr("trained_tokens");
  s.truncated = file.read_int_attr("truncated");
  s.dropped = file.read_int_attr("dropped");
  s.untrained = file.read_int_attr("untrained");
  s.padding_tokens = file.read_int_attr("padding_tokens");
  info.source_files = file.read_string_attr("source_files");
  return info;
}

H5File open_shard(const fs::path& path) {
  if (!fs::exists(path)) SLM_FAIL(path.string(), ": data shard not found; run `slmtune prepare RECIPE` to write it");
  return H5File::open_read(path, k_hint, "data shard");
}

}  // namespace

void write_shard(const fs::path& path, const PackedRows& rows, ShardInfo info) {
  info.seq_len = rows.seq_len;
  info.rows = rows.rows();
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(getpid());
  {
    H5File file = H5File::create(tmp, k_hint);
    const auto r = static_cast<hsize_t>(rows.rows()), t = static_cast<hsize_t>(rows.seq_len);
    file.write_dataset("tokens", H5T_NATIVE_INT32, rows.tokens.data(), {r, t});
    file.write_dataset("loss_mask", H5T_NATIVE_UINT8, rows.mask.data(), {r, t});
    file.write_dataset("doc_offsets", H5T_NATIVE_INT32, rows.doc_offsets.data(), {rows.doc_offsets.size()});
    file.write_dataset("row_doc_index", H5T_NATIVE_INT64, rows.row_doc_index.data(), {rows.row_doc_index.size()});
    write_attributes(file, info);
    file.flush();
  }
  commit_file(tmp, path);
}

ShardInfo read_shard_info(const fs::path& path) {
  return read_info(open_shard(path));
}

struct ShardReader::Impl {
  fs::path path;
  std::optional<H5File> file;
  H5Handle tokens, mask;
  ShardInfo info;
  std::vector<std::int32_t> doc_offsets;
  std::vector<std::int64_t> row_doc_index;
};

ShardReader::ShardReader(const fs::path& path, const ShardExpect& expect) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.path = path;
  s.file.emplace(open_shard(path));
  s.info = read_info(*s.file);
  if (!expect.tokenizer_hash.empty() && expect.tokenizer_hash != s.info.tokenizer_hash)
    SLM_FAIL(path.string(), ": this data was prepared for another tokenizer (hash ", s.info.tokenizer_hash,
             ", the model's is ", expect.tokenizer_hash, "); rerun `slmtune prepare RECIPE` for this model");
  if (expect.chat_template_hash && *expect.chat_template_hash != s.info.chat_template_hash)
    SLM_FAIL(path.string(), ": this data was rendered with another chat template (hash ", s.info.chat_template_hash,
             ", expected ", *expect.chat_template_hash, "); rerun `slmtune prepare RECIPE`");
  if (expect.seq_len > 0 && expect.seq_len != s.info.seq_len)
    SLM_FAIL(path.string(), ": rows hold ", s.info.seq_len, " tokens but data.seq_len is ", expect.seq_len,
             "; rerun `slmtune prepare RECIPE`");
  s.tokens = s.file->open_dataset("tokens");
  s.mask = s.file->open_dataset("loss_mask");
  const std::vector<hsize_t> td = s.file->dataset_dims(s.tokens.get(), 2, "tokens");
  const std::vector<hsize_t> md = s.file->dataset_dims(s.mask.get(), 2, "loss_mask");
  s.doc_offsets = s.file->read_1d<std::int32_t>("doc_offsets", H5T_NATIVE_INT32);
  s.row_doc_index = s.file->read_1d<std::int64_t>("row_doc_index", H5T_NATIVE_INT64);
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
