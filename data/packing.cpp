// packing.cpp — best-fit decreasing packing of examples into fixed-length rows (see packing.h).
#include "data/packing.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "train/core/error.h"

namespace slm {
namespace {

// Truncates or drops per the options; returns the indices of the examples to place.
std::vector<std::size_t> admit(std::vector<Example>& examples, const PackOptions& o, PackStats& stats) {
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    Example& ex = examples[i];
    if (static_cast<std::int64_t>(ex.tokens.size()) > o.seq_len) {
      if (o.truncation == DataTruncation::Drop) {
        ++stats.dropped;
        continue;
      }
      ex.tokens.resize(o.seq_len);
      ex.mask.resize(o.seq_len);
      ++stats.truncated;
    }
    if (ex.tokens.empty() || std::find(ex.mask.begin(), ex.mask.end(), 1) == ex.mask.end()) {
      ++stats.untrained;
      continue;
    }
    kept.push_back(i);
  }
  return kept;
}

// Groups example indices into rows: best-fit decreasing, or one per row.
std::vector<std::vector<std::size_t>> assign_rows(const std::vector<Example>& examples, std::vector<std::size_t> order,
                                                  const PackOptions& o) {
  std::vector<std::vector<std::size_t>> rows;
  if (!o.packing) {
    for (std::size_t i : order) rows.push_back({i});
    return rows;
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return examples[a].tokens.size() > examples[b].tokens.size();
  });
  std::multimap<std::int64_t, std::size_t> free_space;  // free tokens -> row
  for (std::size_t i : order) {
    const auto len = static_cast<std::int64_t>(examples[i].tokens.size());
    auto it = free_space.lower_bound(len);
    std::size_t row;
    std::int64_t left;
    if (it == free_space.end()) {
      row = rows.size();
      rows.emplace_back();
      left = o.seq_len - len;
    } else {
      row = it->second;
      left = it->first - len;
      free_space.erase(it);
    }
    rows[row].push_back(i);
    if (left > 0) free_space.emplace(left, row);
  }
  return rows;
}

}  // namespace

std::int32_t pad_id_of(const Tokenizer& tokenizer) {
  if (tokenizer.pad() >= 0) return tokenizer.pad();
  if (tokenizer.eos() >= 0) return tokenizer.eos();
  return 0;
}

PackedRows pack_examples(std::vector<Example>& examples, const PackOptions& o, PackStats& stats) {
  SLM_CHECK(o.seq_len > 0, "pack_examples: seq_len must be positive");
  const std::vector<std::vector<std::size_t>> rows = assign_rows(examples, admit(examples, o, stats), o);
  PackedRows out;
  out.seq_len = o.seq_len;
  out.tokens.reserve(rows.size() * o.seq_len);
  out.mask.reserve(rows.size() * o.seq_len);
  for (const std::vector<std::size_t>& row : rows) {
    std::int32_t used = 0;
    for (std::size_t i : row) {
      const Example& ex = examples[i];
      out.doc_offsets.push_back(used);
      out.tokens.insert(out.tokens.end(), ex.tokens.begin(), ex.tokens.end());
      out.mask.insert(out.mask.end(), ex.mask.begin(), ex.mask.end());
      out.mask[out.mask.size() - ex.mask.size()] = 0;  // a document's first token has no predecessor
      used += static_cast<std::int32_t>(ex.tokens.size());
      ++stats.examples;
      stats.tokens += static_cast<std::int64_t>(ex.tokens.size());
      stats.trained_tokens += std::count(ex.mask.begin() + 1, ex.mask.end(), 1);
    }
    if (used < o.seq_len) {  // padding: its own document, never a target
      out.doc_offsets.push_back(used);
      out.tokens.insert(out.tokens.end(), o.seq_len - used, o.pad_id);
      out.mask.insert(out.mask.end(), o.seq_len - used, 0);
      stats.padding_tokens += o.seq_len - used;
    }
    out.doc_offsets.push_back(static_cast<std::int32_t>(o.seq_len));
    out.row_doc_index.push_back(static_cast<std::int64_t>(out.doc_offsets.size()));
  }
  stats.rows += out.rows();
  return out;
}

}  // namespace slm
