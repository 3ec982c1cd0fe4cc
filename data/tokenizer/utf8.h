// utf8.h — UTF-8 and Unicode helpers for the tokenizer.
//
// Holds: strict UTF-8 validation (first bad byte offset), code point stepping, encoding, Rust's
// `String::from_utf8_lossy` replacement rule (one U+FFFD per maximal invalid subpart), the character
// classes HF tokenizers asks Rust about (`char::is_whitespace`, `is_alphanumeric`, `is_numeric`), and
// NFC normalization (ICU).
// Does not hold: regexes (pretokenizer.h), the GPT-2 byte alphabet (byte_level.h).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "train/core/text.h"  // append_utf8

namespace slm::tok {

inline constexpr std::size_t k_utf8_valid = static_cast<std::size_t>(-1);

// Byte offset of the first byte that does not start or continue a well-formed UTF-8 sequence
// (overlongs, surrogates and code points above U+10FFFF are ill-formed), or k_utf8_valid.
std::size_t find_invalid_utf8(std::string_view s);

// Decodes the code point starting at s[i] of valid UTF-8 and moves i past it.
char32_t next_code_point(std::string_view s, std::size_t& i);

// Moves i (a character boundary of valid UTF-8, > 0) back to the previous character's start and
// returns that character.
char32_t previous_code_point(std::string_view s, std::size_t& i);

using slm::append_utf8;  // train/core/text.h

// `bytes` as UTF-8 with every maximal invalid subpart replaced by U+FFFD (Rust's from_utf8_lossy).
std::string utf8_lossy(std::string_view bytes);

// Rust's char::is_whitespace: the Unicode White_Space property.
bool is_white_space(char32_t c);
// Rust's char::is_numeric: general categories Nd, Nl, No.
bool is_numeric(char32_t c);
// Rust's char::is_alphanumeric: Alphabetic or numeric.
bool is_alphanumeric(char32_t c);

// NFC of valid UTF-8 text (ICU); returns the input unchanged when it is already NFC.
std::string to_nfc(std::string_view s);

}  // namespace slm::tok
