// shards.h — HDF5 data shards: the on-disk form of packed rows, written atomically and read
// back with validation.
//
// Holds: ShardInfo (the attributes), write_shard, ShardExpect and ShardReader.
// Does not hold: packing (packing.h), caching and splits (prepare.h), batching (loader.h).
//
// Schema (format_version 1), one file per shard:
//   dataset tokens         int32 [rows, seq_len]
//   dataset loss_mask      uint8 [rows, seq_len]   1 = target, predicted from the previous
//                                                  position of the same document
//   dataset doc_offsets    int32 [documents + rows] each row's document starts then seq_len
//   dataset row_doc_index  int64 [rows + 1]        row i: doc_offsets[row_doc_index[i] ..
//                                                  row_doc_index[i+1]) (padding is a document)
//   attributes (on the root group): format_version (int64), tokenizer_hash, chat_template_hash
//   (strings, "" when none), seq_len, examples, tokens, trained_tokens, truncated, dropped,
//   untrained, padding_tokens (int64), source_files (array of strings).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/packing.h"

namespace slm {

inline constexpr std::int64_t k_shard_format_version = 1;

struct ShardInfo {
  std::int64_t format_version = k_shard_format_version;
  std::string tokenizer_hash;
  std::string chat_template_hash;
  std::int64_t seq_len = 0;
  std::int64_t rows = 0;
  PackStats stats;  // examples, tokens, trained_tokens, truncated, dropped, untrained, padding_tokens
  std::vector<std::string> source_files;
};

// Writes rows + info to `path` through a temporary name and a rename (readers never see a
// partial shard). info.seq_len and info.rows are taken from `rows`.
void write_shard(const std::filesystem::path& path, const PackedRows& rows, ShardInfo info);

// What a reader requires; empty / 0 fields are not checked.
struct ShardExpect {
  std::string tokenizer_hash;
  std::optional<std::string> chat_template_hash;
  std::int64_t seq_len = 0;
};

class ShardReader {
 public:
  // Opens and validates: schema, format version, array sizes, and `expect`. Errors name the file
  // and say what to do (a tokenizer mismatch says to rerun `slmtune prepare`).
  explicit ShardReader(const std::filesystem::path& path, const ShardExpect& expect = {});
  ShardReader(ShardReader&&) noexcept;
  ShardReader& operator=(ShardReader&&) noexcept;
  ~ShardReader();

  std::int64_t num_rows() const;
  std::int64_t seq_len() const;
  const ShardInfo& info() const;
  const std::filesystem::path& path() const;

  // Row i: seq_len tokens and mask bytes into the given buffers, and the row's cu_seqlens
  // (document starts, then seq_len) into doc_starts. Not thread-safe (one reader per thread).
  void read_row(std::int64_t i, std::int32_t* tokens, std::uint8_t* mask, std::vector<std::int32_t>& doc_starts) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads just the attributes (for listings and cache reuse).
ShardInfo read_shard_info(const std::filesystem::path& path);

}  // namespace slm
