// text.h — small string helpers shared by parsers and error messages.
//
// Holds: edit distance and closest-name suggestions ("did you mean ...?"), shortest round-trip
// number formatting, YAML/JSON-safe quoting, UTF-8 encoding of a code point.
// Does not hold: file access (files.h), tokenization (data/) or any format parser.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace slm {

// Levenshtein distance (insert, delete, substitute each cost 1).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, or "" when none is close enough to be a plausible typo.
std::string closest_match(std::string_view word, std::span<const std::string> candidates);

// Shortest decimal text that parses back to exactly `value` ("0.0002", "1e-08", "32").
std::string format_number(double value);

// Appends code point `c` encoded as UTF-8 (1 to 4 bytes).
void append_utf8(std::string& out, char32_t c);

// `text` as a double-quoted string valid in both YAML and JSON.
std::string quote(std::string_view text);

}  // namespace slm
