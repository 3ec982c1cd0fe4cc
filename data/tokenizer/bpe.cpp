// bpe.cpp — the BPE merge loop (see bpe.h for the semantics it reproduces).
//
// Does not hold: anything before the model (added tokens, normalizer, pre-tokenizer).
#include "data/tokenizer/bpe.h"

#include <queue>

#include "data/tokenizer/utf8.h"
#include "train/core/error.h"

namespace slm::tok {
namespace {

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

// One symbol of the word being merged: a doubly linked list over a vector.
struct Symbol {
  std::int32_t id;
  int prev, next;
  bool removed;
};

// A candidate merge at `pos` (the left symbol). The queue pops the lowest rank, then the
// lowest position, exactly like HF's BinaryHeap ordering.
struct Candidate {
  std::int32_t rank;
  int pos;
  std::int32_t new_id;
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

Bpe::Bpe(BpeConfig config, std::string_view where)
    : vocab_(std::move(config.vocab)),
      merges_(std::move(config.merges)),
      fuse_unk_(config.fuse_unk),
      ignore_merges_(config.ignore_merges) {
  if (config.unk_token) {
    auto it = vocab_.find(*config.unk_token);
    SLM_CHECK(it != vocab_.end(), where, ": unk_token '", *config.unk_token,
              "' is not in the vocabulary; add it to model.vocab or set unk_token to null");
    unk_id_ = it->second;
  }
  ranks_.reserve(merges_.size() * 2);
  for (std::size_t r = 0; r < merges_.size(); ++r) {
    const auto& [a, b] = merges_[r];
    auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(a + b);
    const std::string* missing = ia == vocab_.end() ? &a : ib == vocab_.end() ? &b : nullptr;
    SLM_CHECK(missing == nullptr, where, ": merges[", r, "] (\"", a, " ", b, "\") uses token '", *missing,
              "' which is not in the vocabulary; the merges do not belong to this vocabulary: "
              "re-export the tokenizer");
    SLM_CHECK(im != vocab_.end(), where, ": merges[", r, "] (\"", a, " ", b, "\") produces '", a + b,
              "' which is not in the vocabulary; re-export the tokenizer");
    ranks_[pair_key(ia->second, ib->second)] = Rank{static_cast<std::int32_t>(r), im->second};  // later wins, as in HF
  }
}

const Bpe::Rank* Bpe::find_merge(std::int32_t a, std::int32_t b) const {
  auto it = ranks_.find(pair_key(a, b));
  return it == ranks_.end() ? nullptr : &it->second;
}

void Bpe::tokenize(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  bool cacheable = word.size() <= k_cache_max_word;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() < k_cache_capacity) cache_.emplace(std::string(word), std::vector<std::int32_t>(out.begin() + first, out.end()));
  }
}

void Bpe::merge_word(std::string_view word, std::vector<std::int32_t>& out) const {
  // Characters -> symbols. Unknown characters are dropped, or become unk (fused when asked).
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  bool last_was_unk = false;
  std::size_t i = 0;
  while (i < word.size()) {
    std::size_t start = i;
    next_code_point(word, i);
    auto it = vocab_.find(word.substr(start, i - start));
    if (it != vocab_.end()) {
      symbols.push_back({it->second, 0, 0, false});
      last_was_unk = false;
    } else if (unk_id_) {
      if (!(fuse_unk_ && last_was_unk)) symbols.push_back({*unk_id_, 0, 0, false});
      last_was_unk = true;
    }
  }
  int n = static_cast<int>(symbols.size());
  for (int k = 0; k < n; ++k) {
    symbols[k].prev = k - 1;
    symbols[k].next = k + 1 < n ? k + 1 : -1;
  }
  std::priority_queue<Candidate> queue;
  for (int k = 0; k + 1 < n; ++k)
    if (const Rank* m = find_merge(symbols[k].id, symbols[k + 1].id)) queue.push({m->rank, k, m->new_id});
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.removed || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const Rank* m = find_merge(left.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    right.removed = true;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0)
      if (const Rank* p = find_merge(symbols[left.prev].id, left.id)) queue.push({p->rank, left.prev, p->new_id});
    if (left.next >= 0)
      if (const Rank* p = find_merge(left.id, symbols[left.next].id)) queue.push({p->rank, top.pos, p->new_id});
  }
  for (const Symbol& s : symbols)
    if (!s.removed) out.push_back(s.id);
}

}  // namespace slm::tok
