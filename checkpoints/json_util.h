// json_util.h — strict JSON parsing for the checkpoint readers (safetensors headers, index json,
// config.json): parse errors become slm::Error with the place, and duplicate keys are rejected.
//
// Holds: parse_json_strict, json_type_name. Does not hold: any format's schema.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace slm {

// Parses `text`. On a syntax error throws slm::Error "<where>: <what> is not valid JSON at
// <position>: <reason>; <hint>", where the position is the line and column (and the byte offset
// plus `file_offset`, the offset of `text` in its file, when `byte_positions` is true).
// A key repeated within one object is an error too (JSON allows it; our formats do not).
nlohmann::json parse_json_strict(std::string_view text, const std::string& where, std::string_view what,
                                 std::size_t file_offset, bool byte_positions, std::string_view hint);

// "string", "integer", "number", "boolean", "array", "object", "null".
std::string json_type_name(const nlohmann::json& value);

}  // namespace slm
