// loader.cpp — DataLoader: seeded per-epoch permutations, rank slices, batch assembly.
#include "data/loader.h"

#include <algorithm>

#include "kernels/cpu/cross_entropy.h"  // k_ignore_index
#include "train/core/error.h"

namespace slm {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) by rejection (no modulo bias).
std::uint64_t uniform_below(std::uint64_t& state, std::uint64_t bound) {
  const std::uint64_t limit = ~0ull - (~0ull % bound);
  std::uint64_t x;
  do x = splitmix64(state);
  while (x >= limit);
  return x % bound;
}

}  // namespace

struct DataLoader::Impl {
  LoaderOptions options;
  std::vector<ShardReader> shards;
  std::vector<std::int64_t> first_row;  // global index of each shard's row 0, then the total
  std::int64_t seq_len = 0;
  LoaderCursor cursor;
  std::int64_t order_epoch = -1;
  std::vector<std::int64_t> order;
  std::vector<std::int32_t> doc_starts;  // scratch

  std::int64_t step_rows() const { return options.micro_batch_size * options.world; }
  std::int64_t total() const { return first_row.back(); }
  std::int64_t steps() const {
    return options.drop_last ? total() / step_rows() : (total() + step_rows() - 1) / step_rows();
  }
};

DataLoader::DataLoader(const std::vector<std::filesystem::path>& shards, const LoaderOptions& options,
                       const ShardExpect& expect)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = options;
  SLM_CHECK(options.micro_batch_size > 0 && options.world > 0 && options.rank >= 0 && options.rank < options.world,
            "data loader: needs micro_batch_size > 0 and 0 <= rank < world (got ", options.micro_batch_size, ", ",
            options.rank, ", ", options.world, ")");
  SLM_CHECK(!shards.empty(), "data loader: no shards given; run `slmtune prepare RECIPE`");
  s.first_row.push_back(0);
  for (const std::filesystem::path& p : shards) {
    s.shards.emplace_back(p, expect);
    if (s.seq_len == 0) s.seq_len = s.shards.back().seq_len();
    if (s.shards.back().seq_len() != s.seq_len)
      SLM_FAIL(p.string(), ": rows of ", s.shards.back().seq_len(), " tokens, but ", shards.front().string(),
               " has ", s.seq_len, "; prepare all shards with the same data.seq_len");
    s.first_row.push_back(s.first_row.back() + s.shards.back().num_rows());
  }
  if (s.steps() == 0)
    SLM_FAIL(shards.front().string(), ": ", s.total(), " rows are fewer than micro_batch_size x data-parallel ranks = ",
             s.step_rows(), "; lower train.micro_batch_size or add data");
}

DataLoader::DataLoader(DataLoader&&) noexcept = default;
DataLoader::~DataLoader() = default;

std::int64_t DataLoader::num_rows() const { return impl_->total(); }
std::int64_t DataLoader::seq_len() const { return impl_->seq_len; }
std::int64_t DataLoader::steps_per_epoch() const { return impl_->steps(); }
LoaderCursor DataLoader::cursor() const { return impl_->cursor; }

void DataLoader::set_cursor(const LoaderCursor& cursor) {
  if (cursor.epoch < 0 || cursor.step < 0 || cursor.step > impl_->steps())
    SLM_FAIL("data loader: cursor (epoch ", cursor.epoch, ", step ", cursor.step, ") is outside the data (",
             impl_->steps(), " steps per epoch); the checkpoint belongs to other data or settings");
  impl_->cursor = cursor;
}

std::vector<std::int64_t> DataLoader::epoch_order(std::int64_t epoch) const {
  const Impl& s = *impl_;
  std::vector<std::int64_t> order(s.total());
  for (std::int64_t i = 0; i < s.total(); ++i) order[i] = i;
  if (!s.options.shuffle) return order;
  std::uint64_t state = s.options.seed * 0x9e3779b97f4a7c15ull ^ (static_cast<std::uint64_t>(epoch) + 1) * 0xd1b54a32d192ed03ull;
  for (std::int64_t i = s.total() - 1; i > 0; --i)
    std::swap(order[i], order[uniform_below(state, static_cast<std::uint64_t>(i) + 1)]);
  return order;
}

bool DataLoader::next(MicroBatch& b) {
  Impl& s = *impl_;
  if (s.cursor.step >= s.steps()) {
    s.cursor = {s.cursor.epoch + 1, 0};
    return false;
  }
  if (s.order_epoch != s.cursor.epoch) s.order = epoch_order(s.cursor.epoch), s.order_epoch = s.cursor.epoch;
  const std::int64_t begin = std::min(s.total(), s.cursor.step * s.step_rows() + s.options.rank * s.options.micro_batch_size);
  const std::int64_t end = std::min(s.total(), begin + s.options.micro_batch_size);
  const std::int64_t t = s.seq_len;
  b.rows = end - begin;
  b.seq_len = t;
  b.tokens.resize(b.rows * t);
  b.mask.resize(b.rows * t);
  b.position_ids.resize(b.rows * t);
  b.cu_seqlens.clear();
  b.row_ids.clear();
  for (std::int64_t r = 0; r < b.rows; ++r) {
    const std::int64_t row = s.order[begin + r];
    const auto shard = std::upper_bound(s.first_row.begin(), s.first_row.end(), row) - s.first_row.begin() - 1;
    s.shards[shard].read_row(row - s.first_row[shard], &b.tokens[r * t], &b.mask[r * t], s.doc_starts);
    for (std::size_t d = 0; d + 1 < s.doc_starts.size(); ++d) {
      b.cu_seqlens.push_back(static_cast<std::int32_t>(r * t + s.doc_starts[d]));
      for (std::int32_t k = s.doc_starts[d]; k < s.doc_starts[d + 1]; ++k) b.position_ids[r * t + k] = k - s.doc_starts[d];
    }
    b.row_ids.push_back(row);
  }
  b.cu_seqlens.push_back(static_cast<std::int32_t>(b.rows * t));
  b.target_tokens = std::count(b.mask.begin(), b.mask.end(), 1);
  ++s.cursor.step;
  return true;
}

void to_token_batch(const MicroBatch& rows, TokenBatch& out) {
  const auto n = static_cast<std::int64_t>(rows.tokens.size());
  out.tokens.assign(rows.tokens.begin(), rows.tokens.end());
  out.positions.assign(rows.position_ids.begin(), rows.position_ids.end());
  out.cu_seqlens.assign(rows.cu_seqlens.begin(), rows.cu_seqlens.end());
  out.targets.assign(static_cast<std::size_t>(n), cpu::k_ignore_index);
  std::size_t doc = 1;  // cu_seqlens[doc] is the end of the document holding t
  for (std::int64_t t = 0; t + 1 < n; ++t) {
    while (doc < out.cu_seqlens.size() && out.cu_seqlens[doc] <= t) ++doc;
    const bool same_doc = doc >= out.cu_seqlens.size() || t + 1 < out.cu_seqlens[doc];
    if (same_doc && rows.mask[static_cast<std::size_t>(t + 1)])
      out.targets[static_cast<std::size_t>(t)] = rows.tokens[static_cast<std::size_t>(t + 1)];
  }
}

TokenBatch to_token_batch(const MicroBatch& rows) {
  TokenBatch b;
  to_token_batch(rows, b);
  return b;
}

}  // namespace slm
