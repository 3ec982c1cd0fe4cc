// test_data_reader.cpp — dataset readers: every format, ShareGPT, auto-detection, JSON arrays,
// globs and directories, and malformed inputs (file:line:column, missing and ill-typed fields,
// empty files, on_error: skip).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/dataset/records.h"
#include "train/core/error.h"

namespace slm {
namespace {
namespace fs = std::filesystem;

class DataReader : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("slm_test_data_reader_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  fs::path write(const std::string& name, const std::string& text) {
    fs::path p = dir / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
  std::string error_of(const std::string& spec, ReadOptions o = {}) {
    try {
      ReadReport report;
      read_dataset(spec, o, report);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }
};

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

TEST_F(DataReader, ReadsEveryFormatWithAutoDetection) {
  write("a/chat.jsonl",
        R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"U"},{"role":"assistant","content":"A"}]})"
        "\n\n"
        R"({"conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]})"
        "\n");
  write("a/alpaca.jsonl", R"({"instruction":"I","input":"","output":"O"})" "\n" R"({"instruction":"I2","output":"O2"})");
  write("a/comp.jsonl", R"({"prompt":"P","completion":"C"})");
  write("a/text.json", R"([{"text":"T1"},
  {"text":"T2"}])");
  ReadReport report;
  std::vector<Record> r = read_dataset((dir / "a").string(), {}, report);
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(report.files.size(), 4u);
  // sorted: alpaca, chat, comp, text
  EXPECT_EQ(r[0].format, DataFormat::Alpaca);
  EXPECT_EQ(r[0].instruction, "I");
  EXPECT_EQ(r[1].input, "");
  EXPECT_EQ(r[2].format, DataFormat::Chat);
  ASSERT_EQ(r[2].messages.size(), 3u);
  EXPECT_EQ(r[2].messages[0].role, "system");
  EXPECT_EQ(r[3].messages[0].role, "user");
  EXPECT_EQ(r[3].messages[1].role, "assistant");
  EXPECT_EQ(r[3].messages[1].content, "yo");
  EXPECT_CONTAINS(r[3].where, "chat.jsonl:3");
  EXPECT_EQ(r[4].format, DataFormat::Completion);
  EXPECT_EQ(r[4].completion, "C");
  EXPECT_EQ(r[5].format, DataFormat::Text);
  EXPECT_EQ(r[6].text, "T2");
  EXPECT_CONTAINS(r[6].where, "text.json:2");
}

TEST_F(DataReader, GlobsAndCommaLists) {
  write("g/x1.jsonl", R"({"text":"a"})");
  write("g/x2.jsonl", R"({"text":"b"})");
  write("g/y.jsonl", R"({"text":"c"})");
  ReadReport report;
  EXPECT_EQ(read_dataset((dir / "g/x*.jsonl").string(), {}, report).size(), 2u);
  ReadReport report2;
  EXPECT_EQ(read_dataset((dir / "g/x1.jsonl").string() + ", " + (dir / "g/y.jsonl").string(), {}, report2).size(), 2u);
  EXPECT_CONTAINS(error_of((dir / "g/z*.jsonl").string()), "pattern matches nothing");
  EXPECT_CONTAINS(error_of((dir / "missing.jsonl").string()), "no such file");
  // One data.train entry is one dataset: a comma is part of its name, and the error says how to list several.
  EXPECT_EQ(expand_input((dir / "g").string()).size(), 3u);
  try {
    expand_input((dir / "g/x1.jsonl").string() + "," + (dir / "g/y.jsonl").string());
    ADD_FAILURE() << "a comma-separated entry was expanded";
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "no such file");
    EXPECT_CONTAINS(e.what(), "several data.train datasets are a list: [a.jsonl, b.jsonl]");
  }
}

TEST_F(DataReader, MalformedJsonNamesLineColumnAndText) {
  fs::path p = write("bad.jsonl", R"({"text":"ok"})" "\n" R"({"text": "fine", oops})" "\n");
  std::string e = error_of(p.string());
  EXPECT_CONTAINS(e, p.string() + ":2:18: malformed JSON");
  EXPECT_CONTAINS(e, "oops");
  EXPECT_CONTAINS(e, "data.on_error: skip");
  fs::path arr = write("bad.json", "[\n  {\"text\": \"a\"},\n  {\"text\": \"b\",,}\n]");
  EXPECT_CONTAINS(error_of(arr.string()), arr.string() + ":3:");
}

TEST_F(DataReader, MissingAndIllTypedFieldsNameTheFormat) {
  fs::path p = write("m.jsonl", R"({"messages":[{"role":"user","content":"x"},{"role":"assistant"}]})");
  std::string e = error_of(p.string());
  EXPECT_CONTAINS(e, p.string() + ":1: field 'messages[1].content' is missing");
  EXPECT_CONTAINS(e, "the chat format is");
  p = write("t.jsonl", R"({"text": 5})");
  EXPECT_CONTAINS(error_of(p.string()), "field 'text' must be a string, got a number");
  p = write("c.jsonl", R"({"prompt": "p"})");
  EXPECT_CONTAINS(error_of(p.string()), "field 'completion' is missing; the completion format is");
  p = write("al.jsonl", R"({"instruction": "i", "output": ["x"]})");
  EXPECT_CONTAINS(error_of(p.string()), "field 'output' must be a string, got an array; the alpaca format");
  p = write("sg.jsonl", R"({"conversations":[{"from":"robot","value":"x"}]})");
  EXPECT_CONTAINS(error_of(p.string()), "'robot', not one of human, gpt, system");
  p = write("u.jsonl", R"({"foo": 1})");
  EXPECT_CONTAINS(error_of(p.string()), "cannot tell the record's format from its keys (foo)");
  p = write("n.jsonl", R"([1, 2])");
  EXPECT_CONTAINS(error_of(p.string()), "a record must be a JSON object, got an array");
  // An explicit format that does not fit the records.
  p = write("x.jsonl", R"({"text": "t"})");
  EXPECT_CONTAINS(error_of(p.string(), {DataFormat::Chat, DataOnError::Fail}), "field 'messages' is missing");
  // The format of a file is fixed by its first record.
  p = write("mix.jsonl", R"({"text": "t"})" "\n" R"({"prompt": "p", "completion": "c"})");
  EXPECT_CONTAINS(error_of(p.string()), p.string() + ":2: field 'text' is missing");
}

TEST_F(DataReader, EmptyFilesAndSkip) {
  fs::path p = write("empty.jsonl", "\n  \n");
  EXPECT_CONTAINS(error_of(p.string()), "the dataset is empty");
  p = write("emptyarr.json", "[]");
  EXPECT_CONTAINS(error_of(p.string()), "the dataset is empty");
  p = write("mixed.jsonl", "{\"text\":\"a\"}\n{bad\n{\"text\": 3}\n{\"text\":\"b\"}\n");
  ReadReport report;
  std::vector<Record> r = read_dataset(p.string(), {DataFormat::Auto, DataOnError::Skip}, report);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(report.skipped, 2);
  ASSERT_EQ(report.skip_reasons.size(), 2u);
  EXPECT_CONTAINS(report.skip_reasons[0], ":2:2: malformed JSON");
  p = write("allbad.jsonl", "{bad\n");
  EXPECT_CONTAINS(error_of(p.string(), {DataFormat::Auto, DataOnError::Skip}), "1 records skipped");
}

TEST_F(DataReader, RecordFromJsonText) {
  Record r = record_from_json(R"({"messages":[{"role":"user","content":"q"}]})", DataFormat::Auto, "inline");
  EXPECT_EQ(r.format, DataFormat::Chat);
  EXPECT_THROW(record_from_json("{", DataFormat::Auto, "inline"), Error);
  EXPECT_EQ(detect_format(R"({"instruction":"i","output":"o"})", "inline"), DataFormat::Alpaca);
}

}  // namespace
}  // namespace slm
