// json_util.cpp — nlohmann::json parsing with positions in errors and duplicate-key checks.
#include "checkpoints/json_util.h"

#include <set>
#include <vector>

#include "train/core/error.h"

namespace slm {
namespace {

// Line and column (1-based) of byte `offset` in `text`.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// nlohmann's message without its "[json.exception.parse_error.101] parse error at ...: " prefix.
std::string reason_of(const nlohmann::json::parse_error& e) {
  std::string message = e.what();
  std::size_t colon = message.find(": ");
  if (colon != std::string::npos && message.compare(0, 16, "[json.exception.") == 0)
    message = message.substr(colon + 2);
  return message;
}

}  // namespace

nlohmann::json parse_json_strict(std::string_view text, const std::string& where, std::string_view what,
                                 std::size_t file_offset, bool byte_positions, std::string_view hint) {
  std::vector<std::set<std::string>> open_objects;  // keys seen in each object being parsed
  std::string duplicate;
  auto callback = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) {
      open_objects.emplace_back();
    } else if (event == E::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == E::key && !open_objects.empty() && parsed.is_string()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
    }
    return true;
  };
  // nlohmann stops at a NUL byte as at the end of input; raw NULs are never valid JSON.
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    const auto [line, column] = line_column(text, nul);
    if (byte_positions)
      SLM_FAIL(where, ": ", what, " holds a NUL byte at byte ", nul, " of the header (file offset ", file_offset + nul,
               "); JSON never contains NUL bytes and headers are padded with spaces; ", hint);
    SLM_FAIL(where, ":", line, ":", column, ": ", what, " holds a NUL byte, which JSON never contains; ", hint);
  }
  nlohmann::json result;
  try {
    result = nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based: the byte after the last one read.
    const std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    const auto [line, column] = line_column(text, at);
    if (byte_positions)
      SLM_FAIL(where, ": ", what, " is not valid JSON at byte ", at, " of the header (file offset ", file_offset + at,
               ", line ", line, " column ", column, "): ", reason_of(e), "; ", hint);
    SLM_FAIL(where, ":", line, ":", column, ": ", what, " is not valid JSON: ", reason_of(e), "; ", hint);
  }
  if (!duplicate.empty())
    SLM_FAIL(where, ": ", what, " has the key \"", duplicate, "\" twice in one object; every name must be unique; ",
             hint);
  return result;
}

std::string json_type_name(const nlohmann::json& value) {
  if (value.is_string()) return "string";
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_boolean()) return "boolean";
  if (value.is_array()) return "array";
  if (value.is_object()) return "object";
  if (value.is_null()) return "null";
  return "value";
}

}  // namespace slm
