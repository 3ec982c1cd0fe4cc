// utf8.cpp — UTF-8 validation, stepping, lossy repair, character classes and NFC (see utf8.h).
//
// Does not hold: anything tokenizer-specific.
#include "data/tokenizer/utf8.h"

#include <unicode/normalizer2.h>  // NFC
#include <unicode/bytestream.h>   // StringByteSink
#include <unicode/uchar.h>        // u_isUWhiteSpace, u_isUAlphabetic, u_charType

#include "train/core/error.h"

namespace slm::tok {
namespace {

// Length of the well-formed sequence at s[i] (1..4), or 0 with `prefix` set to the length of its
// maximal well-formed prefix (at least 1), per the Unicode standard's Table 3-7.
std::size_t sequence_at(std::string_view s, std::size_t i, std::size_t& prefix) {
  auto byte = [&](std::size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  unsigned b0 = byte(i);
  prefix = 1;
  if (b0 < 0x80) return 1;
  std::size_t need = 0;
  unsigned lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    need = 1;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;
    unsigned b = byte(i + k);
    if (b < lo || b > hi) return 0;
    lo = 0x80;
    hi = 0xbf;
    prefix = k + 1;
  }
  return need + 1;
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view s) {
  std::size_t i = 0, prefix = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = sequence_at(s, i, prefix);
    if (n == 0) return i;
    i += n;
  }
  return k_utf8_valid;
}

char32_t next_code_point(std::string_view s, std::size_t& i) {
  unsigned b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  std::size_t n = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : 2;
  char32_t c = b0 & (0x7f >> n);
  for (std::size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  i += n;
  return c;
}

char32_t previous_code_point(std::string_view s, std::size_t& i) {
  std::size_t start = i - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) --start;
  i = start;
  std::size_t j = start;
  return next_code_point(s, j);
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0, prefix = 0;
  while (i < bytes.size()) {
    std::size_t n = sequence_at(bytes, i, prefix);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD
      i += prefix;
    }
  }
  return out;
}

bool is_white_space(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)); }

bool is_numeric(char32_t c) {
  auto type = u_charType(static_cast<UChar32>(c));
  return type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
}

bool is_alphanumeric(char32_t c) { return u_isUAlphabetic(static_cast<UChar32>(c)) || is_numeric(c); }

std::string to_nfc(std::string_view s) {
  bool ascii = true;
  for (char ch : s) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
  if (ascii) return std::string(s);  // ASCII is always NFC
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  SLM_CHECK(U_SUCCESS(status), "tokenizer: ICU has no NFC data (", u_errorName(status),
            "); reinstall libicu (tools/setup.sh)");
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(s.size()));
  nfc->normalizeUTF8(0, icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), sink, nullptr, status);
  SLM_CHECK(U_SUCCESS(status), "tokenizer: NFC normalization failed (", u_errorName(status),
            ") on a text of ", s.size(), " bytes; check that the text is valid UTF-8");
  return out;
}

}  // namespace slm::tok
