// tokenizer.cpp — encode / decode and the look-ups of Tokenizer (see tokenizer.h); finish_impl.
//
// Does not hold: reading tokenizer.json (tokenizer_json.cpp) or GGUF specs (tokenizer_spec.cpp).
#include "data/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/tokenizer_impl.h"
#include "data/tokenizer/utf8.h"
#include "train/core/error.h"

namespace slm {
namespace {

// FNV-1a, 64-bit.
struct Fnv1a {
  std::uint64_t state = 0xcbf29ce484222325ull;
  void add(std::string_view bytes) {
    for (char c : bytes) {
      state ^= static_cast<unsigned char>(c);
      state *= 0x100000001b3ull;
    }
  }
  void add_field(std::string_view bytes) {  // length-prefixed so fields cannot run together
    add(std::to_string(bytes.size()));
    add(":");
    add(bytes);
  }
};

std::string compute_hash(const Tokenizer::Impl& m) {
  Fnv1a h;
  h.add_field("slmtune-tokenizer-v1");
  std::vector<std::pair<std::int32_t, const std::string*>> vocab;
  for (const auto& [token, id] : m.model->vocab()) vocab.emplace_back(id, &token);
  std::sort(vocab.begin(), vocab.end(), [](auto& a, auto& b) { return a.first != b.first ? a.first < b.first : *a.second < *b.second; });
  h.add_field("vocab " + std::to_string(vocab.size()));
  for (auto& [id, token] : vocab) {
    h.add_field(std::to_string(id));
    h.add_field(*token);
  }
  h.add_field("merges " + std::to_string(m.model->merges().size()));
  for (const auto& [a, b] : m.model->merges()) {
    h.add_field(a);
    h.add_field(b);
  }
  std::vector<const tok::AddedToken*> added;
  for (const auto& t : m.added) added.push_back(&t);
  std::stable_sort(added.begin(), added.end(), [](auto* a, auto* b) { return a->id < b->id; });
  h.add_field("added " + std::to_string(added.size()));
  for (const tok::AddedToken* t : added) {
    h.add_field(std::to_string(t->id));
    h.add_field(t->content);
    h.add_field(std::string{char('0' + t->special), char('0' + t->lstrip), char('0' + t->rstrip),
                            char('0' + t->normalized), char('0' + t->single_word)});
  }
  h.add_field(m.nfc ? "normalizer nfc" : "normalizer none");
  for (const auto& step : m.pre_steps) h.add_field(step.describe());
  h.add_field(m.model->ignore_merges() ? "ignore_merges 1" : "ignore_merges 0");
  for (auto id : m.prefix_ids) h.add_field("prefix " + std::to_string(id));
  for (auto id : m.suffix_ids) h.add_field("suffix " + std::to_string(id));
  h.add_field(m.decoder == Tokenizer::Impl::Decoder::ByteLevel ? "decoder byte_level" : "decoder none");
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h.state));
  return hex;
}

// The end-of-turn token of the chat families, by name.
constexpr std::string_view k_eot_names[] = {"<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>"};

}  // namespace

void finish_impl(Tokenizer::Impl& m) {
  std::int32_t size = 0;
  for (const auto& [token, id] : m.model->vocab()) size = std::max(size, id + 1);
  for (const auto& t : m.added) size = std::max(size, t.id + 1);
  m.id_to_token.assign(size, std::string());
  for (const auto& [token, id] : m.model->vocab()) m.id_to_token[id] = token;
  m.special.assign(size, 0);
  std::vector<tok::AddedToken> raw, normalized;
  for (const auto& t : m.added) {
    m.id_to_token[t.id] = t.content;
    m.special[t.id] = t.special;
    m.added_by_content[t.content] = t.id;
    if (!t.normalized) {
      raw.push_back(t);
    } else {
      normalized.push_back(t);
      if (m.nfc) normalized.back().content = tok::to_nfc(t.content);  // HF normalizes these contents
    }
  }
  m.raw_splitter = tok::AddedTokenSplitter(std::move(raw));
  m.normalized_splitter = tok::AddedTokenSplitter(std::move(normalized));
  for (std::size_t k = 0; m.eot < 0 && k < std::size(k_eot_names); ++k) {
    auto it = m.added_by_content.find(std::string(k_eot_names[k]));
    if (it != m.added_by_content.end()) m.eot = it->second;
  }
  m.hash = compute_hash(m);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
  const Impl& m = *impl_;
  std::size_t bad = tok::find_invalid_utf8(text);
  if (bad != tok::k_utf8_valid) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(text[bad]));
    SLM_FAIL("tokenizer (", m.source, "): the text is not valid UTF-8: byte offset ", bad, " (byte ", byte,
             ") of ", text.size(), " bytes; convert the text to UTF-8 (e.g. iconv) before tokenizing");
  }
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special) ids.insert(ids.end(), m.prefix_ids.begin(), m.prefix_ids.end());
  for (const tok::Piece& piece : m.raw_splitter.split(text)) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
      continue;
    }
    std::string_view raw = text.substr(piece.begin, piece.end - piece.begin);
    std::string normalized = m.nfc ? tok::to_nfc(raw) : std::string(raw);
    for (const tok::Piece& inner : m.normalized_splitter.split(normalized)) {
      if (inner.id >= 0) {
        ids.push_back(inner.id);
        continue;
      }
      std::string_view part = std::string_view(normalized).substr(inner.begin, inner.end - inner.begin);
      for (const std::string& word : tok::pre_tokenize(m.pre_steps, part)) m.model->tokenize(word, ids);
    }
  }
  if (add_special) ids.insert(ids.end(), m.suffix_ids.begin(), m.suffix_ids.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::string bytes;
  bool first = true;
  for (std::size_t k = 0; k < ids.size(); ++k) {
    std::int32_t id = ids[k];
    SLM_CHECK(id >= 0 && id < vocab_size(), "tokenizer (", m.source, "): decode: ids[", k, "] = ", id,
              " is outside the vocabulary [0, ", vocab_size(), "); the ids come from another tokenizer");
    const std::string& token = m.id_to_token[id];
    if (token.empty() || (skip_special && m.special[id])) continue;  // a hole in the vocabulary, or skipped
    if (m.decoder == Impl::Decoder::ByteLevel) {
      auto b = tok::bytes_of_spelling(token);
      bytes += b ? *b : token;
    } else {
      if (!first) bytes += ' ';
      bytes += token;
    }
    first = false;
  }
  return tok::utf8_lossy(bytes);
}

std::string Tokenizer::token_text(std::int32_t id) const {
  SLM_CHECK(id >= 0 && id < vocab_size() && !impl_->id_to_token[id].empty(), "tokenizer (", impl_->source,
            "): no token has id ", id, " (vocabulary size ", vocab_size(), ")");
  return impl_->id_to_token[id];
}

std::string Tokenizer::token_bytes(std::int32_t id) const {
  std::string text = token_text(id);
  if (impl_->decoder != Impl::Decoder::ByteLevel) return text;
  auto b = tok::bytes_of_spelling(text);
  return b ? *b : text;
}

std::optional<std::int32_t> Tokenizer::token_id(std::string_view token) const {
  if (auto it = impl_->added_by_content.find(std::string(token)); it != impl_->added_by_content.end()) return it->second;
  if (auto it = impl_->model->vocab().find(token); it != impl_->model->vocab().end()) return it->second;
  return std::nullopt;
}

std::int32_t Tokenizer::vocab_size() const { return static_cast<std::int32_t>(impl_->id_to_token.size()); }
std::int32_t Tokenizer::bos() const { return impl_->bos; }
std::int32_t Tokenizer::eos() const { return impl_->eos; }
std::int32_t Tokenizer::eot() const { return impl_->eot; }
std::int32_t Tokenizer::pad() const { return impl_->pad; }
bool Tokenizer::is_special(std::int32_t id) const { return id >= 0 && id < vocab_size() && impl_->special[id]; }
std::string Tokenizer::hash() const { return impl_->hash; }

}  // namespace slm
