// records.h — dataset records as read from JSONL / JSON files, and the readers' entry points.
//
// Holds: Record (one example in one of the four formats, with its file:line), the reader options
// and report, expand_input / expand_inputs (files, globs, directories; comma-separated lists)
// and read_dataset.
// Does not hold: tokenization, templates or masks (examples.h), packing or shards.
//
// Formats (DataFormat in the recipe):
//   text        {"text": "..."}
//   completion  {"prompt": "...", "completion": "..."}
//   alpaca      {"instruction": "...", "input": "..." (optional), "output": "..."}
//   chat        {"messages": [{"role": "system|user|assistant|...", "content": "..."}, ...]}
//               or ShareGPT {"conversations": [{"from": "system|human|gpt", "value": "..."}]},
//               mapped human -> user, gpt -> assistant (user/assistant/system are kept).
// auto detects the format of each file from the keys of its first record, in that order:
// messages or conversations -> chat, instruction -> alpaca, prompt -> completion, text -> text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/chat_template/chat_template.h"  // ChatMessage
#include "train/recipe/recipe.h"                // DataFormat, DataOnError

namespace slm {

struct Record {
  DataFormat format = DataFormat::Text;  // never Auto
  std::string text;                      // text
  std::string prompt, completion;        // completion
  std::string instruction, input, output;  // alpaca
  std::vector<ChatMessage> messages;     // chat (ShareGPT already mapped)
  std::string where;                     // "file:line", for messages
};

struct ReadOptions {
  DataFormat format = DataFormat::Auto;
  DataOnError on_error = DataOnError::Fail;
};

struct ReadReport {
  std::vector<std::filesystem::path> files;  // every file read, in order
  std::int64_t records = 0;                  // records kept
  std::int64_t skipped = 0;                  // records skipped under on_error: skip
  std::vector<std::string> skip_reasons;     // the first few skip messages
};

// The files named by one `entry`: a file, a directory (its *.jsonl and *.json files,
// recursively, sorted) or a glob (*, ?, [..] in the last path components). A comma is part of
// the name. An entry that matches nothing is an error naming it. (One data.train dataset.)
std::vector<std::filesystem::path> expand_input(const std::string& entry);

// The files named by `spec`: comma-separated entries, each as expand_input (data.eval).
std::vector<std::filesystem::path> expand_inputs(const std::string& spec);

// Reads one file (.json: a JSON array of records, or one record; anything else: JSONL, one
// record per non-blank line). Appends to `out`. Errors (slm::Error) name file:line:column and
// quote the offending text; with on_error: skip, bad records are counted in `report` instead.
void read_records_file(const std::filesystem::path& file, const ReadOptions& options,
                       std::vector<Record>& out, ReadReport& report);

// Reads every file of `spec` (expand_inputs). An empty result is an error that says what was
// read and skipped.
std::vector<Record> read_dataset(const std::string& spec, const ReadOptions& options, ReadReport& report);

// The same for `files`; `name` says what they are in messages (a data.train entry).
std::vector<Record> read_dataset(const std::vector<std::filesystem::path>& files, const std::string& name,
                                 const ReadOptions& options, ReadReport& report);

// Parses one record's JSON text as `format` (Auto: detect from its keys). `where` names the text
// (a file); syntax errors say where:line:column, field errors where and the format's fields.
Record record_from_json(const std::string& json_text, DataFormat format, const std::string& where);

// The format a record's keys say (never Auto); throws naming `where` when no format fits.
DataFormat detect_format(const std::string& json_text, const std::string& where);

}  // namespace slm
