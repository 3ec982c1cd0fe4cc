// byte_level.cpp — GPT-2's bytes_to_unicode table and the conversions built on it (see byte_level.h).
//
// Does not hold: regex splitting or BPE.
#include "data/tokenizer/byte_level.h"

#include <array>

#include "data/tokenizer/utf8.h"

namespace slm::tok {
namespace {

// Printable Latin-1 bytes keep their own code point; the rest get 256, 257, ... in byte order.
struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> spelling{};  // UTF-8 of to_char
  std::array<int, 324> to_byte{};           // code point -> byte, -1 outside the alphabet

  Tables() {
    to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      to_char[b] = printable ? static_cast<char32_t>(b) : next++;
      to_byte[to_char[b]] = b;
      append_utf8(spelling[b], to_char[b]);
    }
  }
};

const Tables& tables() {
  static const Tables t;  // immutable after construction
  return t;
}

}  // namespace

char32_t byte_to_char(unsigned char byte) { return tables().to_char[byte]; }

std::optional<unsigned char> char_to_byte(char32_t c) {
  if (c >= tables().to_byte.size() || tables().to_byte[c] < 0) return std::nullopt;
  return static_cast<unsigned char>(tables().to_byte[c]);
}

void append_byte_level(std::string& out, std::string_view text) {
  const Tables& t = tables();
  for (char ch : text) out += t.spelling[static_cast<unsigned char>(ch)];
}

std::optional<std::string> bytes_of_spelling(std::string_view token) {
  std::string bytes;
  bytes.reserve(token.size());
  std::size_t i = 0;
  while (i < token.size()) {
    auto b = char_to_byte(next_code_point(token, i));
    if (!b) return std::nullopt;
    bytes += static_cast<char>(*b);
  }
  return bytes;
}

bool is_byte_level_spelling(std::string_view token) { return bytes_of_spelling(token).has_value(); }

}  // namespace slm::tok
