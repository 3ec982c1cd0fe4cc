// records_internal.h — helpers shared by the dataset reader files (not a public API).
//
// Holds: JSON parsing with file:line:column errors and the json-value forms of the record
// functions. Does not hold: anything callers outside data/dataset/ need.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <string_view>

#include <nlohmann/json.hpp>

#include "train/recipe/recipe.h"

namespace slm {

struct Record;

// Parses `text`; on a syntax error throws slm::Error "<file>:<line>:<col>: malformed JSON: ...
// near '<snippet>'", lines counted from `first_line` (the file line where `text` starts).
nlohmann::json parse_json_located(std::string_view text, const std::string& file, std::int64_t first_line);

// The byte offset `offset` of `text` as 1-based (line, column), lines counted from first_line.
std::pair<std::int64_t, std::int64_t> line_column(std::string_view text, std::size_t offset, std::int64_t first_line);

Record record_from_json_value(const nlohmann::json& j, DataFormat format, const std::string& where);
DataFormat detect_format_json(const nlohmann::json& j, const std::string& where);

}  // namespace slm
