// byte_level.h — GPT-2's byte-level alphabet: every byte as one printable Unicode character.
//
// Holds: the bytes_to_unicode table (printable Latin-1 bytes map to themselves, the other 68
// bytes to U+0100.. in byte order), text -> alphabet spelling, and the reverse used by decoding.
// Does not hold: the regex split that the ByteLevel pre-tokenizer also does (pretokenizer.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace slm::tok {

// The alphabet character (as a code point) standing for `byte`.
char32_t byte_to_char(unsigned char byte);

// The byte that alphabet character `c` stands for, or nullopt when c is not in the alphabet.
std::optional<unsigned char> char_to_byte(char32_t c);

// Appends the alphabet spelling of every byte of `text` to `out` ("a b" -> "aĠb").
void append_byte_level(std::string& out, std::string_view text);

// The bytes a token spelled in the alphabet stands for; nullopt when any character of it is
// outside the alphabet (HF's ByteLevel decoder then uses the token's own UTF-8 bytes).
std::optional<std::string> bytes_of_spelling(std::string_view token);

// True when every character of valid UTF-8 `token` is in the alphabet.
bool is_byte_level_spelling(std::string_view token);

}  // namespace slm::tok
