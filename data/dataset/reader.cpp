// reader.cpp — dataset files: expanding inputs (files, globs, directories), splitting JSONL and
// JSON arrays into records with their line numbers, and the on_error policy.
//
// Holds: expand_input, expand_inputs, read_records_file, read_dataset, parse_json_located.
// Does not hold: per-format field checks (formats.cpp).
#include <fnmatch.h>  // fnmatch: glob patterns

#include <algorithm>

#include "data/dataset/records.h"
#include "data/dataset/records_internal.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t k_max_skip_reasons = 5;

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

bool is_data_file(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".jsonl" || ext == ".json" || ext == ".ndjson";
}

// Matches the components of `pattern` against the filesystem, one level at a time.
void glob_into(const fs::path& base, std::vector<std::string>::const_iterator part,
               std::vector<std::string>::const_iterator end, std::vector<fs::path>& out) {
  if (part == end) {
    if (fs::is_regular_file(base)) out.push_back(base);
    return;
  }
  if (!has_glob(*part)) return glob_into(base / *part, part + 1, end, out);
  std::error_code ec;
  const fs::path dir = base.empty() ? fs::path(".") : base;
  std::vector<fs::path> matches;
  for (fs::directory_iterator it(dir, ec), stop; !ec && it != stop; it.increment(ec))
    if (fnmatch(part->c_str(), it->path().filename().c_str(), FNM_PERIOD) == 0)
      matches.push_back(base.empty() ? it->path().filename() : it->path());
  std::sort(matches.begin(), matches.end());
  for (const fs::path& m : matches) glob_into(m, part + 1, end, out);
}

}  // namespace

std::vector<fs::path> expand_input(const std::string& entry) {
  std::vector<fs::path> files;
  if (has_glob(entry)) {
    fs::path pattern(entry);
    std::vector<std::string> parts;
    for (const fs::path& c : pattern.relative_path()) parts.push_back(c.string());
    glob_into(pattern.root_path(), parts.begin(), parts.end(), files);
  } else if (fs::is_directory(entry)) {
    for (const auto& e : fs::recursive_directory_iterator(entry))
      if (e.is_regular_file() && is_data_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else if (fs::exists(entry)) {
    files.push_back(entry);
  }
  if (files.empty())
    SLM_FAIL(entry, ": no data files found (", has_glob(entry) ? "the pattern matches nothing" :
             fs::is_directory(entry) ? "the directory has no .jsonl or .json files" : "no such file",
             "); check data.train / data.eval, or run the importer that writes it (tools/fetch_data.sh)",
             entry.find(',') != std::string::npos && !has_glob(entry)
                 ? "; several data.train datasets are a list: [a.jsonl, b.jsonl]" : "");
  return files;
}

namespace {

std::string snippet_at(std::string_view text, std::size_t offset) {
  const std::size_t line_start = text.rfind('\n', offset == 0 ? 0 : offset - 1);
  std::size_t from = line_start == std::string_view::npos ? 0 : line_start + 1;
  from = std::max(from, offset > 30 ? offset - 30 : 0);
  std::size_t to = std::min(text.size(), from + 60);
  const std::size_t nl = text.find('\n', from);
  if (nl != std::string_view::npos) to = std::min(to, nl);
  return std::string(text.substr(from, to - from));
}

// Error or skip, per the options.
void on_bad_record(const std::string& message, const ReadOptions& options, ReadReport& report) {
  if (options.on_error == DataOnError::Fail) throw Error(message);
  ++report.skipped;
  if (report.skip_reasons.size() < k_max_skip_reasons) report.skip_reasons.push_back(message);
}

// One record, with the format fixed by the file's first record when options say auto.
void add_record(const nlohmann::json& j, const std::string& where, const ReadOptions& options,
                DataFormat& file_format, std::vector<Record>& out, ReadReport& report) {
  try {
    if (file_format == DataFormat::Auto) file_format = detect_format_json(j, where);
    out.push_back(record_from_json_value(j, file_format, where));
    ++report.records;
  } catch (const Error& e) {
    on_bad_record(e.what(), options, report);
  }
}

void read_jsonl(const std::string& text, const fs::path& file, const ReadOptions& options,
                std::vector<Record>& out, ReadReport& report) {
  DataFormat file_format = options.format;
  std::int64_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    ++line_no;
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = file.string() + ":" + std::to_string(line_no);
    nlohmann::json j;
    try {
      j = parse_json_located(line, file.string(), line_no);
    } catch (const Error& e) {
      on_bad_record(e.what(), options, report);
      continue;
    }
    add_record(j, where, options, file_format, out, report);
  }
}

// Start offsets of the top-level elements of a JSON array that is known to be valid.
std::vector<std::size_t> array_element_offsets(std::string_view text) {
  std::vector<std::size_t> starts;
  int depth = 0;
  bool in_string = false, expect_value = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (depth == 1 && expect_value && c != ']') starts.push_back(i);
    expect_value = false;
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') expect_value = (++depth == 1);
    else if (c == ']' || c == '}') --depth;
    else if (c == ',' && depth == 1) expect_value = true;
  }
  return starts;
}

void read_json(const std::string& text, const fs::path& file, const ReadOptions& options,
               std::vector<Record>& out, ReadReport& report) {
  nlohmann::json all = parse_json_located(text, file.string(), 1);  // a syntax error fails the file
  DataFormat file_format = options.format;
  if (!all.is_array()) {
    add_record(all, file.string() + ":1", options, file_format, out, report);
    return;
  }
  const std::vector<std::size_t> starts = array_element_offsets(text);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::int64_t line = i < starts.size() ? line_column(text, starts[i], 1).first : 1;
    add_record(all[i], file.string() + ":" + std::to_string(line), options, file_format, out, report);
  }
}

}  // namespace

std::pair<std::int64_t, std::int64_t> line_column(std::string_view text, std::size_t offset, std::int64_t first_line) {
  offset = std::min(offset, text.size());
  std::int64_t line = first_line;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset; ++i)
    if (text[i] == '\n') ++line, line_start = i + 1;
  return {line, static_cast<std::int64_t>(offset - line_start) + 1};
}

nlohmann::json parse_json_located(std::string_view text, const std::string& file, std::int64_t first_line) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based index of the byte where parsing stopped.
    const std::size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    auto [line, col] = line_column(text, offset, first_line);
    std::string why = e.what();
    const std::size_t cut = why.find("syntax error");
    if (cut != std::string::npos) why = why.substr(cut);
    SLM_FAIL(file, ":", line, ":", col, ": malformed JSON (", why, ") near '", snippet_at(text, offset),
             "'; fix the line, or set data.on_error: skip to skip malformed records");
  }
}

std::vector<fs::path> expand_inputs(const std::string& spec) {
  std::vector<fs::path> files;
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    std::size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string entry = spec.substr(pos, comma - pos);
    entry.erase(0, entry.find_first_not_of(' '));
    entry.erase(entry.find_last_not_of(' ') + 1);
    if (!entry.empty())
      for (fs::path& f : expand_input(entry)) files.push_back(std::move(f));
    pos = comma + 1;
  }
  if (files.empty()) SLM_FAIL("data: no input files given; set data.train to a JSONL or JSON file");
  return files;
}

void read_records_file(const fs::path& file, const ReadOptions& options, std::vector<Record>& out, ReadReport& report) {
  const std::string text = read_file(file, "dataset");
  report.files.push_back(file);
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (file.extension() == ".json" && first != std::string::npos && (text[first] == '[' || text.find('\n', first) == std::string::npos ||
                                                                    nlohmann::json::accept(text)))
    read_json(text, file, options, out, report);
  else
    read_jsonl(text, file, options, out, report);
}

std::vector<Record> read_dataset(const std::string& spec, const ReadOptions& options, ReadReport& report) {
  return read_dataset(expand_inputs(spec), spec, options, report);
}

std::vector<Record> read_dataset(const std::vector<fs::path>& files, const std::string& name, const ReadOptions& options,
                                 ReadReport& report) {
  std::vector<Record> records;
  for (const fs::path& file : files) read_records_file(file, options, records, report);
  if (records.empty()) {
    std::string read;
    for (const fs::path& f : report.files) read += (read.empty() ? "" : ", ") + f.string();
    SLM_FAIL(name, ": the dataset is empty after reading ", read, " (", report.skipped, " records skipped",
             report.skip_reasons.empty() ? std::string() : "; first: " + report.skip_reasons.front(),
             "); give data.train a file with records");
  }
  return records;
}

}  // namespace slm
