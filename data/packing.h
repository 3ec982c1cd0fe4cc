// packing.h — examples into rows of exactly seq_len tokens, with per-row document boundaries.
//
// Holds: PackOptions, PackStats, PackedRows (the shard's arrays in memory) and pack_examples.
// Does not hold: tokenization (dataset/examples.h) or files (shards.h).
//
// Packed mode: whole examples fill rows by best-fit decreasing (longest first, each into the row
// whose free space is the smallest that still fits it; a new row when none does). No example is
// ever split across rows. Unpacked mode: one example per row. In both, the rest of a row is
// padding (pad id, mask 0) and counts as its own document, so attention and position ids of real
// documents never see it. Examples longer than seq_len are truncated to their first seq_len
// tokens or dropped (PackOptions::truncation); examples with no target token left are dropped too
// (counted in `untrained`).
//
// Layout (r rows, T = seq_len):
//   tokens        [r * T] int32, row-major
//   mask          [r * T] uint8, 1 = target (predicted from the previous position, same document)
//   doc_offsets   int32, for each row its document start offsets followed by T (cu_seqlens of
//                 the row); total length = documents (incl. padding documents) + rows
//   row_doc_index [r + 1] int64: row i's cu_seqlens are doc_offsets[row_doc_index[i] ..
//                 row_doc_index[i + 1]).
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset/examples.h"
#include "train/recipe/recipe.h"  // DataTruncation

namespace slm {

struct PackOptions {
  std::int64_t seq_len = 2048;
  bool packing = true;
  DataTruncation truncation = DataTruncation::Truncate;
  std::int32_t pad_id = 0;
};

struct PackStats {
  std::int64_t examples = 0;        // examples placed in rows
  std::int64_t tokens = 0;          // their tokens (after truncation), padding excluded
  std::int64_t trained_tokens = 0;  // tokens with mask 1
  std::int64_t truncated = 0;       // examples cut to seq_len
  std::int64_t dropped = 0;         // examples dropped for length (truncation: drop)
  std::int64_t untrained = 0;       // examples dropped because no target token was left
  std::int64_t rows = 0;
  std::int64_t padding_tokens = 0;
};

struct PackedRows {
  std::int64_t seq_len = 0;
  std::vector<std::int32_t> tokens;
  std::vector<std::uint8_t> mask;
  std::vector<std::int32_t> doc_offsets;
  std::vector<std::int64_t> row_doc_index{0};
  std::int64_t rows() const { return static_cast<std::int64_t>(row_doc_index.size()) - 1; }
};

// Packs `examples` (consumed: truncated in place). Row order is deterministic for a given input.
PackedRows pack_examples(std::vector<Example>& examples, const PackOptions& options, PackStats& stats);

// The pad id of a tokenizer: pad, else eos, else 0.
std::int32_t pad_id_of(const Tokenizer& tokenizer);

}  // namespace slm
