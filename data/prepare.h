// prepare.h — the data pipeline end to end: records -> examples -> packed rows -> HDF5 shards,
// cached by a hash of everything that decides the shards' bytes.
//
// Holds: SplitStats, PreparedSplit, PreparedData, prepare_data (the trainer and `slmtune prepare`
// call it), data_cache_key and format_prepare_report.
// Does not hold: the steps themselves (dataset/, packing.h, shards.h) or batching (loader.h).
//
// The cache folder is <data.cache_dir or run_dir/data>/<key>, key = FNV-1a/64 of: the shard
// format version; every input file's absolute path, size and modification time (train and eval);
// the tokenizer hash; the chat template hash; data.format, seq_len, packing, train_on_prompt,
// eval_fraction, on_error, truncation; with data.train_weights also the weights, the number of
// files of each dataset and train.seed (without weights the key is what it was before mixing
// existed, so such caches stay valid). It holds train.h5, eval.h5 (when there is an eval split)
// and manifest.json (the stats, written last). A folder with a manifest is reused as is; a new
// one is written under a temporary name and renamed into place.
//
// Mixing (data.train lists several datasets): each dataset is read, split into train and eval
// (data.eval_fraction, per record) and rendered on its own; n_i is the number of its training
// examples. Without data.train_weights the datasets are concatenated in order. With weights w_i,
// the training split holds round(w_i / sum(w) * sum(n)) examples of dataset i (mix_counts): whole
// passes over it in order, then a sample without replacement (seeded by train.seed and i, kept
// in the dataset's order) for the rest. The shard is then the epoch; the loader shuffles it.
// The eval split is never reweighted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/model_assets.h"  // ChatTemplateText
#include "data/packing.h"       // PackStats
#include "data/tokenizer/tokenizer.h"
#include "train/recipe/recipe.h"

namespace slm {

// One dataset's part of a split (a data.train entry, or data.eval).
struct SourceStats {
  std::string name;                  // the data.train entry (or data.eval)
  std::int64_t records = 0;          // records of this split read from it
  std::int64_t skipped_records = 0;  // of its records, skipped (on_error: skip)
  std::int64_t examples = 0;         // rendered examples: n_i
  double weight = 0;                 // its data.train_weights entry; 0 = not weighted
  std::int64_t drawn = 0;            // examples it gives the split (= examples when not weighted)
};

struct SplitStats {
  std::int64_t records = 0;          // records read into this split
  std::int64_t skipped_records = 0;  // malformed / unrenderable records skipped (on_error: skip)
  PackStats pack;                    // examples, tokens, trained_tokens, truncated, dropped, ...
  std::int64_t replies = 0;          // assistant turns (chat) or completions
  std::int64_t replies_terminated = 0;  // of them, with a trained end-of-turn / EOS token
  std::vector<std::string> skip_reasons;  // the first few skip messages (not kept in the cache)
  std::vector<SourceStats> sources;  // per dataset, in data.train order
  double seconds = 0;                // tokenization + packing + writing time (0 when reused)
  double tokens_per_second() const { return seconds > 0 ? static_cast<double>(pack.tokens) / seconds : 0; }
};

struct PreparedSplit {
  std::vector<std::filesystem::path> shards;  // HDF5 shards (schema: shards.h)
  SplitStats stats;
};

struct PreparedData {
  std::filesystem::path dir;  // the cache folder
  std::string key;            // its name
  bool reused = false;        // true when the folder existed and nothing was recomputed
  std::string tokenizer_hash, chat_template_hash;
  PreparedSplit train;
  std::optional<PreparedSplit> eval;  // data.eval, or the data.eval_fraction hold-out
};

// Reads recipe.data.train (and data.eval), splits by data.eval_fraction (deterministic: by the
// FNV-1a hash of each record's content), mixes the datasets (above), renders with `tokenizer` and `chat_template` (nullopt
// when the model has none; chat records then fail), packs and writes the shards, using every
// core for tokenization. Reuses the cache folder when its key matches. Throws slm::Error naming
// the file and place of bad input; fails when the end-of-turn token would never be trained.
PreparedData prepare_data(const Recipe& recipe, const std::filesystem::path& run_dir, const Tokenizer& tokenizer,
                          const std::optional<ChatTemplateText>& chat_template);

// Examples drawn from each dataset of sizes `sizes`: the sizes themselves when `weights` is
// empty, else round(w_i / sum(w) * sum(sizes)) (half away from zero) for each i.
std::vector<std::int64_t> mix_counts(const std::vector<std::int64_t>& sizes, const std::vector<double>& weights);

// The key prepare_data would use (for tools and tests).
std::string data_cache_key(const Recipe& recipe, const std::string& tokenizer_hash, const std::string& chat_template_hash);

// Human-readable stats, one split per paragraph (what `slmtune prepare` prints).
std::string format_prepare_report(const PreparedData& data);

}  // namespace slm
