// formats.cpp — one JSON record to a typed Record: format detection and field validation.
//
// Holds: detect_format, record_from_json and the per-format field checks with messages that
// name file:line, the field (messages[2].content) and the fields the format expects.
// Does not hold: file reading or line splitting (reader.cpp).
#include <nlohmann/json.hpp>

#include "data/dataset/records.h"
#include "data/dataset/records_internal.h"
#include "train/core/error.h"

namespace slm {
namespace {

using nlohmann::json;

const char* format_fields(DataFormat f) {
  switch (f) {
    case DataFormat::Chat:
      return "the chat format is {\"messages\": [{\"role\": \"user\", \"content\": \"...\"}, ...]} "
             "or ShareGPT {\"conversations\": [{\"from\": \"human\", \"value\": \"...\"}, ...]}";
    case DataFormat::Alpaca:
      return "the alpaca format is {\"instruction\": \"...\", \"input\": \"...\" (optional), \"output\": \"...\"}";
    case DataFormat::Completion: return "the completion format is {\"prompt\": \"...\", \"completion\": \"...\"}";
    case DataFormat::Text: return "the text format is {\"text\": \"...\"}";
    case DataFormat::Auto: break;
  }
  return "records are chat {\"messages\": [...]}, ShareGPT {\"conversations\": [...]}, alpaca "
         "{\"instruction\", \"output\"}, completion {\"prompt\", \"completion\"} or text {\"text\"}";
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::discarded: return "nothing";
    default: return "a number";
  }
}

[[noreturn]] void field_error(const std::string& where, const std::string& field, const std::string& problem,
                              DataFormat format) {
  SLM_FAIL(where, ": field '", field, "' ", problem, "; ", format_fields(format),
           ". Fix the record, or set data.on_error: skip to skip such records");
}

// The string at obj[key]; `optional` fields may be missing or null (then "").
std::string string_field(const json& obj, const char* key, const std::string& path, const std::string& where,
                         DataFormat format, bool optional = false) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (optional) return {};
    field_error(where, path, it == obj.end() ? "is missing" : "is null", format);
  }
  if (!it->is_string()) field_error(where, path, std::string("must be a string, got ") + type_name(*it), format);
  return it->get<std::string>();
}

std::string sharegpt_role(const std::string& from, const std::string& path, const std::string& where) {
  if (from == "human" || from == "user") return "user";
  if (from == "gpt" || from == "assistant" || from == "model") return "assistant";
  if (from == "system") return "system";
  field_error(where, path, "is '" + from + "', not one of human, gpt, system (or user, assistant)", DataFormat::Chat);
}

void read_chat(const json& j, const std::string& where, Record& r) {
  const bool sharegpt = !j.contains("messages") && j.contains("conversations");
  const char* list_key = sharegpt ? "conversations" : "messages";
  const json& list = j.at(list_key);
  if (!list.is_array()) field_error(where, list_key, std::string("must be an array, got ") + type_name(list), DataFormat::Chat);
  if (list.empty()) field_error(where, list_key, "is empty", DataFormat::Chat);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = std::string(list_key) + "[" + std::to_string(i) + "]";
    if (!list[i].is_object()) field_error(where, path, std::string("must be an object, got ") + type_name(list[i]), DataFormat::Chat);
    ChatMessage m;
    if (sharegpt) {
      m.role = sharegpt_role(string_field(list[i], "from", path + ".from", where, DataFormat::Chat), path + ".from", where);
      m.content = string_field(list[i], "value", path + ".value", where, DataFormat::Chat);
    } else {
      m.role = string_field(list[i], "role", path + ".role", where, DataFormat::Chat);
      m.content = string_field(list[i], "content", path + ".content", where, DataFormat::Chat);
    }
    if (m.role.empty()) field_error(where, path + ".role", "is empty", DataFormat::Chat);
    r.messages.push_back(std::move(m));
  }
}

DataFormat detect(const json& j, const std::string& where) {
  if (!j.is_object()) SLM_FAIL(where, ": a record must be a JSON object, got ", type_name(j), "; ", format_fields(DataFormat::Auto));
  if (j.contains("messages") || j.contains("conversations")) return DataFormat::Chat;
  if (j.contains("instruction")) return DataFormat::Alpaca;
  if (j.contains("prompt")) return DataFormat::Completion;
  if (j.contains("text")) return DataFormat::Text;
  std::string keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
  SLM_FAIL(where, ": cannot tell the record's format from its keys (", keys.empty() ? "none" : keys, "); ",
           format_fields(DataFormat::Auto), ". Rename the keys or set data.format");
}

}  // namespace

DataFormat detect_format_json(const json& j, const std::string& where) { return detect(j, where); }

Record record_from_json_value(const json& j, DataFormat format, const std::string& where) {
  if (format == DataFormat::Auto) format = detect(j, where);
  if (!j.is_object()) SLM_FAIL(where, ": a record must be a JSON object, got ", type_name(j), "; ", format_fields(format));
  Record r;
  r.format = format;
  r.where = where;
  switch (format) {
    case DataFormat::Chat:
      if (!j.contains("messages") && !j.contains("conversations")) field_error(where, "messages", "is missing", format);
      read_chat(j, where, r);
      break;
    case DataFormat::Alpaca:
      r.instruction = string_field(j, "instruction", "instruction", where, format);
      r.input = string_field(j, "input", "input", where, format, true);
      r.output = string_field(j, "output", "output", where, format);
      if (r.instruction.empty()) field_error(where, "instruction", "is empty", format);
      if (r.output.empty()) field_error(where, "output", "is empty", format);
      break;
    case DataFormat::Completion:
      r.prompt = string_field(j, "prompt", "prompt", where, format);
      r.completion = string_field(j, "completion", "completion", where, format);
      if (r.completion.empty()) field_error(where, "completion", "is empty", format);
      break;
    case DataFormat::Text:
      r.text = string_field(j, "text", "text", where, format);
      if (r.text.empty()) field_error(where, "text", "is empty", format);
      break;
    case DataFormat::Auto: break;
  }
  return r;
}

Record record_from_json(const std::string& json_text, DataFormat format, const std::string& where) {
  json j = parse_json_located(json_text, where, 1);
  return record_from_json_value(j, format, where);
}

DataFormat detect_format(const std::string& json_text, const std::string& where) {
  return detect(parse_json_located(json_text, where, 1), where);
}

}  // namespace slm
