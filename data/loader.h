// loader.h — micro-batches of shard rows for training and evaluation: a deterministic shuffle per
// epoch, a cursor that saves and restores the position exactly, data-parallel sharding.
//
// Holds: LoaderOptions, LoaderCursor, MicroBatch, DataLoader, to_token_batch.
// Does not hold: shard I/O details (shards.h) or preparing data (prepare.h).
//
// Order: epoch e visits all rows (of all shards, concatenated) in a permutation drawn from
// (seed, e) by Fisher-Yates with SplitMix64 (identical on every platform; identity when
// shuffle is off). A global step takes micro_batch_size * world consecutive positions of the
// permutation; rank r takes positions [r * micro_batch_size, (r + 1) * micro_batch_size) of them,
// so ranks never share a row. With drop_last, a final partial step of an epoch is skipped;
// without it, the last micro-batches are short (possibly 0 rows on high ranks).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "data/shards.h"
#include "train/model/llama_train.h"  // TokenBatch

namespace slm {

struct LoaderOptions {
  std::int64_t micro_batch_size = 1;
  std::uint64_t seed = 42;
  bool shuffle = true;
  std::int64_t rank = 0, world = 1;
  bool drop_last = true;  // training: true; evaluation: false
};

// Where the loader is: the epoch and the index of the next global step in it. Saving it with a
// checkpoint and restoring it with set_cursor continues with exactly the same batches.
struct LoaderCursor {
  std::int64_t epoch = 0;
  std::int64_t step = 0;
  bool operator==(const LoaderCursor&) const = default;
};

struct MicroBatch {
  std::int64_t rows = 0, seq_len = 0;
  std::vector<std::int32_t> tokens;        // [rows, seq_len]
  std::vector<std::uint8_t> mask;          // [rows, seq_len], 1 = target
  std::vector<std::int32_t> position_ids;  // [rows, seq_len], restart at 0 in every document
  std::vector<std::int32_t> cu_seqlens;    // document starts over the flattened [rows * seq_len]
                                           // tokens, then rows * seq_len (rows are boundaries)
  std::vector<std::int64_t> row_ids;       // global row index of each row
  std::int64_t target_tokens = 0;          // sum of mask
};

class DataLoader {
 public:
  // Opens every shard (validated against `expect`); all must share seq_len. Throws when an epoch
  // would hold no step (fewer rows than micro_batch_size * world with drop_last).
  DataLoader(const std::vector<std::filesystem::path>& shards, const LoaderOptions& options, const ShardExpect& expect = {});
  DataLoader(DataLoader&&) noexcept;
  ~DataLoader();

  std::int64_t num_rows() const;
  std::int64_t seq_len() const;
  std::int64_t steps_per_epoch() const;

  // Fills this rank's micro-batch of the cursor's step and advances the cursor. At the end of an
  // epoch returns false without filling and moves the cursor to the next epoch's step 0.
  bool next(MicroBatch& batch);

  LoaderCursor cursor() const;
  void set_cursor(const LoaderCursor& cursor);  // throws when the step is outside the epoch

  // The epoch's permutation of global row indices.
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The model's input from the loader's rows: position t predicts token t + 1 when that token is
// a target (mask) of the same document. Reuses `out`'s storage (no allocation once it is sized).
void to_token_batch(const MicroBatch& rows, TokenBatch& out);
TokenBatch to_token_batch(const MicroBatch& rows);

}  // namespace slm
