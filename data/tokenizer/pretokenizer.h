// pretokenizer.h — pre-tokenization: cutting text into the words the BPE model sees.
//
// Holds: Regex (PCRE2 in UTF + UCP mode, JIT when available, with the Oniguruma/Rust meaning of
// \s and \S that HF tokenizers has), the pre-tokenizer steps HF byte-level tokenizers use
// (Split with its five delimiter behaviors and invert, Digits, ByteLevel with its GPT-2 regex and
// add_prefix_space), and the named split regexes of the GPT-2, Llama 3 and Qwen 2 families.
// Does not hold: added tokens, normalization, BPE.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slm::tok {

// GPT-2's split (the ByteLevel pre-tokenizer's regex; also SmolLM, StarCoder).
inline constexpr std::string_view k_gpt2_split =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama 3's split (tokenizer.json Split pattern; llama.cpp "llama-bpe").
inline constexpr std::string_view k_llama3_split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen 2 / 2.5 / 3's split: Llama 3's with single digits.
inline constexpr std::string_view k_qwen2_split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A compiled regex in the syntax of HF tokenizers' patterns (Oniguruma, Rust's `regex`).
class Regex {
 public:
  // Throws slm::Error naming `where` and the pattern's offset when PCRE2 rejects it.
  Regex(std::string_view pattern, std::string_view where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches [begin, end) of valid UTF-8 `text`, left to right.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;  // as given
  void* code_ = nullptr; // pcre2_code_8*
};

// How Split treats the matched delimiters (HF's SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// One pre-tokenizer step. Steps run in order over every piece produced by the step before.
struct PreTokenizerStep {
  enum class Kind { Split, Digits, ByteLevel } kind = Kind::Split;
  // Split: a regex, or a literal string when `regex` is null.
  std::shared_ptr<const Regex> regex;
  std::string literal;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  // Digits: each digit alone (true) or runs of digits (false).
  bool individual_digits = false;
  // ByteLevel: split with the GPT-2 regex first (use_regex), prefix a space when missing.
  bool add_prefix_space = false;
  bool use_regex = true;

  // A stable text form for the tokenizer hash ("split(regex=...,isolated,invert=0)").
  std::string describe() const;
};

// Runs the steps over one text piece and returns the non-empty words.
std::vector<std::string> pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::string_view text);

// The shared GPT-2 regex object (compiled once).
std::shared_ptr<const Regex> gpt2_regex();

}  // namespace slm::tok
