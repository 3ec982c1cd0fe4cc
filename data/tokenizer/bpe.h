// bpe.h — the BPE model: vocabulary, ranked merges, and the merge loop over one pre-token.
//
// Holds: Bpe (HF tokenizers' BPE model without dropout: per-character lookup, unknown characters
// dropped or mapped to unk, merges applied lowest rank first and leftmost first on ties,
// ignore_merges, and a bounded word -> ids cache shared by threads).
// Does not hold: pre-tokenization, added tokens, the byte alphabet, file parsing.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace slm::tok {

// std::hash over string_view so maps keyed by std::string can be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

struct BpeConfig {
  Vocab vocab;                                             // token spelling -> id
  std::vector<std::pair<std::string, std::string>> merges; // best (rank 0) first
  std::optional<std::string> unk_token;                    // must be in vocab when set
  bool fuse_unk = false;
  bool ignore_merges = false;  // a pre-token that is itself in vocab becomes that one token
};

class Bpe {
 public:
  // Throws slm::Error naming `where` (file and key) when a merge names a token, or a merged
  // result, that is not in the vocabulary.
  Bpe(BpeConfig config, std::string_view where);
  Bpe(const Bpe&) = delete;
  Bpe& operator=(const Bpe&) = delete;

  // Appends the ids of one pre-token (already spelled in the model's alphabet).
  void tokenize(std::string_view word, std::vector<std::int32_t>& out) const;

  const Vocab& vocab() const { return vocab_; }
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }
  bool ignore_merges() const { return ignore_merges_; }
  std::optional<std::int32_t> unk_id() const { return unk_id_; }  // for writing tokenizer.json
  bool fuse_unk() const { return fuse_unk_; }

 private:
  struct Rank {
    std::int32_t rank;
    std::int32_t new_id;
  };
  void merge_word(std::string_view word, std::vector<std::int32_t>& out) const;
  const Rank* find_merge(std::int32_t a, std::int32_t b) const;

  Vocab vocab_;
  std::vector<std::pair<std::string, std::string>> merges_;
  std::unordered_map<std::uint64_t, Rank> ranks_;  // (left id << 32 | right id) -> rank, result
  std::optional<std::int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;

  static constexpr std::size_t k_cache_capacity = 1 << 16;  // words; the cache stops growing there
  static constexpr std::size_t k_cache_max_word = 256;      // bytes; longer words are not cached
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace slm::tok
