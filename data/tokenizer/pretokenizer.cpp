// pretokenizer.cpp — PCRE2 regexes and the Split / Digits / ByteLevel steps (see pretokenizer.h).
//
// Does not hold: which steps a tokenizer has (the loaders build them).
#include "data/tokenizer/pretokenizer.h"

#include <algorithm>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/utf8.h"
#include "train/core/error.h"

namespace slm::tok {
namespace {

// HF's regexes run on Oniguruma, where \s is Unicode White_Space (it includes U+0085); PCRE2's
// UCP \s is "Z or tab/LF/VT/FF/CR" and misses U+0085. Spell \s and \S as the property instead.
std::string to_pcre2_syntax(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      char next = pattern[i + 1];
      if (next == 's') out += "\\p{White_Space}";
      else if (next == 'S') out += "\\P{White_Space}";
      else out.append(pattern.substr(i, 2));
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

// A split of [0, n) into ranges, each marked as a match of the pattern or not (HF's find_matches).
struct Span {
  std::size_t begin, end;
  bool is_match;
};

std::vector<Span> spans_from_matches(const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                                     std::size_t n, bool invert) {
  std::vector<Span> spans;
  if (n == 0) return {Span{0, 0, false}};
  std::size_t prev = 0;
  for (auto [b, e] : matches) {
    if (b != prev) spans.push_back({prev, b, invert});
    spans.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != n) spans.push_back({prev, n, invert});
  return spans;
}

// Applies a delimiter behavior: the ranges that survive, in order (empty ones included).
std::vector<std::pair<std::size_t, std::size_t>> apply_behavior(const std::vector<Span>& spans,
                                                                SplitBehavior behavior) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const Span& s : spans) out.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::Removed:
      for (const Span& s : spans)
        if (!s.is_match) out.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::Contiguous:
    case SplitBehavior::MergedWithPrevious:
      for (const Span& s : spans) {
        bool extend = behavior == SplitBehavior::Contiguous ? s.is_match == previous_match
                                                            : s.is_match && !previous_match;
        if (extend && !out.empty()) out.back().second = s.end;
        else out.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) out.back().first = it->begin;
        else out.emplace_back(it->begin, it->end);
        previous_match = it->is_match;
      }
      std::reverse(out.begin(), out.end());
      break;
  }
  return out;
}

// Splits every piece with `spans_of` and `behavior`, dropping empty results.
template <typename SpansOf>
void split_pieces(std::vector<std::string>& pieces, SplitBehavior behavior, SpansOf spans_of) {
  std::vector<std::string> out;
  out.reserve(pieces.size() * 2);
  for (const std::string& piece : pieces) {
    for (auto [b, e] : apply_behavior(spans_of(piece), behavior))
      if (e > b) out.emplace_back(piece, b, e - b);
  }
  pieces = std::move(out);
}

// HF's char-predicate pattern: each matching character is its own match.
std::vector<Span> numeric_spans(std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    if (is_numeric(next_code_point(text, i))) matches.emplace_back(start, i);
  }
  return spans_from_matches(matches, text.size(), false);
}

std::vector<std::pair<std::size_t, std::size_t>> literal_matches(std::string_view text, std::string_view literal) {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  if (literal.empty()) return matches;
  for (std::size_t at = text.find(literal); at != std::string_view::npos; at = text.find(literal, at + literal.size()))
    matches.emplace_back(at, at + literal.size());
  return matches;
}

void byte_level_step(const PreTokenizerStep& step, std::vector<std::string>& pieces) {
  if (step.add_prefix_space)
    for (std::string& p : pieces)
      if (p.empty() || p[0] != ' ') p.insert(p.begin(), ' ');
  if (step.use_regex) {
    const Regex& re = *gpt2_regex();
    split_pieces(pieces, SplitBehavior::Isolated,
                 [&](const std::string& p) { return spans_from_matches(re.find_all(p), p.size(), false); });
  }
  for (std::string& p : pieces) {
    std::string mapped;
    mapped.reserve(p.size() * 2);
    append_byte_level(mapped, p);
    p = std::move(mapped);
  }
}

const char* behavior_name(SplitBehavior b) {
  switch (b) {
    case SplitBehavior::Removed: return "removed";
    case SplitBehavior::Isolated: return "isolated";
    case SplitBehavior::MergedWithPrevious: return "merged_with_previous";
    case SplitBehavior::MergedWithNext: return "merged_with_next";
    case SplitBehavior::Contiguous: return "contiguous";
  }
  return "?";
}

}  // namespace

Regex::Regex(std::string_view pattern, std::string_view where) : pattern_(pattern) {
  std::string translated = to_pcre2_syntax(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    SLM_FAIL(where, ": regex \"", pattern, "\" does not compile (PCRE2, near offset ", offset, " of \"", translated,
             "\"): ", reinterpret_cast<const char*>(message), "; fix the pattern");
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // when JIT is unavailable the interpreter runs
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code, nullptr);
  SLM_CHECK(data != nullptr, "tokenizer: out of memory for regex match data");
  std::size_t pos = 0;
  while (pos <= text.size()) {
    int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, PCRE2_NO_UTF_CHECK,
                         data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      SLM_FAIL("tokenizer: regex \"", pattern_, "\" failed at byte ", pos, " of a ", text.size(), "-byte piece: ",
               reinterpret_cast<const char*>(message), "; the pattern backtracks too much for this text");
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
    std::size_t b = ov[0], e = ov[1];
    matches.emplace_back(b, e);
    if (e > b) {
      pos = e;
    } else {  // an empty match: step over one character
      if (e >= text.size()) break;
      pos = e;
      next_code_point(text, pos);
    }
  }
  pcre2_match_data_free(data);
  return matches;
}

std::shared_ptr<const Regex> gpt2_regex() {
  static const std::shared_ptr<const Regex> re = std::make_shared<const Regex>(k_gpt2_split, "GPT-2 split");
  return re;
}

std::string PreTokenizerStep::describe() const {
  switch (kind) {
    case Kind::Split:
      return std::string("split(") + (regex ? "regex=" + regex->pattern() : "string=" + literal) + "," +
             behavior_name(behavior) + ",invert=" + (invert ? "1" : "0") + ")";
    case Kind::Digits:
      return std::string("digits(individual=") + (individual_digits ? "1" : "0") + ")";
    case Kind::ByteLevel:
      return std::string("byte_level(prefix_space=") + (add_prefix_space ? "1" : "0") +
             ",regex=" + (use_regex ? "1" : "0") + ")";
  }
  return "?";
}

std::vector<std::string> pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::string_view text) {
  std::vector<std::string> pieces;
  if (!text.empty()) pieces.emplace_back(text);
  for (const PreTokenizerStep& step : steps) {
    switch (step.kind) {
      case PreTokenizerStep::Kind::Split:
        split_pieces(pieces, step.behavior, [&](const std::string& p) {
          auto matches = step.regex ? step.regex->find_all(p) : literal_matches(p, step.literal);
          return spans_from_matches(matches, p.size(), step.invert);
        });
        break;
      case PreTokenizerStep::Kind::Digits:
        split_pieces(pieces, step.individual_digits ? SplitBehavior::Isolated : SplitBehavior::Contiguous,
                     numeric_spans);
        break;
      case PreTokenizerStep::Kind::ByteLevel:
        byte_level_step(step, pieces);
        break;
    }
  }
  return pieces;
}

}  // namespace slm::tok
