// tokenizer.h — the byte-level BPE tokenizer of slmtune, matching Hugging Face `tokenizers`.
//
// Holds: TokenizerSpec (a GGUF's tokenizer.ggml.* values), Tokenizer (load from tokenizer.json or
// from a spec; encode, decode, vocabulary look-ups, special token ids, a stable hash; write back
// as tokenizer.json).
// Does not hold: chat templates, datasets, GGUF reading (checkpoints/ fills a TokenizerSpec).
//
// What encode does, in HF's order: added tokens that are not `normalized` are cut out of the raw
// text; each remaining piece is normalized (NFC when the tokenizer has it) and cut again at the
// `normalized` added tokens; the rest is pre-tokenized (Split / Digits / ByteLevel), spelled in
// GPT-2's byte alphabet and merged by BPE. encode(text, true) adds what the post-processor adds
// (BOS for Llama 3 style templates; nothing for SmolLM2 and Qwen 2).
//
// Text must be valid UTF-8 (HF tokenizers only accepts Rust strings): encode throws slm::Error
// naming the byte offset of the first ill-formed byte instead of guessing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace slm {

// What a GGUF's tokenizer.ggml.* keys hold for model "gpt2" (byte-level BPE).
struct TokenizerSpec {
  std::vector<std::string> tokens;        // tokenizer.ggml.tokens
  std::vector<std::string> merges;        // tokenizer.ggml.merges, "a b"
  std::vector<std::int32_t> token_types;  // tokenizer.ggml.token_type: 1 normal, 2 unknown, 3 control,
                                          // 4 user-defined, 5 unused, 6 byte
  std::string pre;                        // tokenizer.ggml.pre: "smollm", "llama-bpe", "qwen2", "gpt2", ...
  std::int32_t bos = -1, eos = -1, eot = -1, pad = -1;
  bool add_bos = false;
  std::string source = "GGUF";  // names the file in error messages
};

class Tokenizer {
 public:
  // Reads an HF tokenizer.json (model BPE). A tokenizer_config.json beside it, when present, names
  // the bos / eos tokens. Throws slm::Error naming the file and the key on anything unsupported.
  static Tokenizer from_tokenizer_json(const std::filesystem::path& path);

  // Builds the tokenizer transformers builds from the same GGUF metadata (integrations/ggml.py):
  // byte-level BPE, the family's split regex chosen by `pre`, control tokens as special added
  // tokens, user-defined tokens as plain added tokens. Unknown `pre` values are an error.
  static Tokenizer from_spec(const TokenizerSpec& spec);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text`; add_special adds the post-processor's tokens (e.g. BOS). Thread-safe.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special = false) const;

  // Text of `ids` as HF's decode gives it: bytes of the tokens, invalid UTF-8 replaced by U+FFFD.
  // skip_special drops special tokens. Ids outside [0, vocab_size()) are an error.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special = false) const;

  // The token as the vocabulary spells it ("Ġworld", "<|im_end|>"); throws for unknown ids.
  std::string token_text(std::int32_t id) const;
  // The raw bytes the token stands for (" world"); may be a partial UTF-8 sequence.
  std::string token_bytes(std::int32_t id) const;
  // The id of a token spelled as in the vocabulary or an added token's content.
  std::optional<std::int32_t> token_id(std::string_view token) const;

  // One past the largest id (vocabulary and added tokens).
  std::int32_t vocab_size() const;

  // Special ids, -1 when the tokenizer has none. eot is the end-of-turn token of chat models
  // (<|im_end|>, <|eot_id|>, <end_of_turn>, <|end|>).
  std::int32_t bos() const;
  std::int32_t eos() const;
  std::int32_t eot() const;
  std::int32_t pad() const;
  bool is_special(std::int32_t id) const;

  // This tokenizer as an HF tokenizer.json (tokenizers' schema, version "1.0"): the BPE model with
  // its vocabulary and merges, the added tokens with their flags, the normalizer, the
  // pre-tokenizer steps exactly as we run them (so SmolLM2's digit splitting survives a GGUF),
  // the post-processor adding what encode(text, true) adds, and the decoder. Loading the result
  // with from_tokenizer_json gives the same hash(); HF tokenizers gives the same ids.
  // (tokenizer_json_write.cpp)
  std::string to_tokenizer_json() const;

  // FNV-1a/64 (16 hex digits) over vocabulary, merges, added tokens, normalizer, pre-tokenizer and
  // post-processor: equal hashes mean equal token ids for every text. Data shards record it.
  std::string hash() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace slm
