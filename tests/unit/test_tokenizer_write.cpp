// test_tokenizer_write.cpp — Tokenizer::to_tokenizer_json: every fixture tokenizer
// (tests/fixtures/tokenizers/*) and the SmolLM2 tokenizer built from its GGUF spec, written as
// tokenizer.json and read back, encode every corpus string to the same ids (with and without the
// post-processor's tokens), decode the same, and keep the hash; the written vocabulary, merges
// and added tokens are the source file's; writing is idempotent.
// (That transformers loads the written files to the same ids: tools/verify_export_merged.py.)
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/tokenizer/tokenizer.h"
#include "train/core/files.h"

namespace slm {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path k_dir = fs::path(SLM_SOURCE_DIR) / "tests" / "fixtures" / "tokenizers";
const fs::path k_tmp = fs::path(SLM_BINARY_DIR) / "test_tokenizer_write_tmp";

json load_json(const fs::path& path) { return json::parse(read_file(path, "fixture")); }

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> strings = load_json(k_dir / "corpus.json")["strings"];
  return strings;
}

// Writes `tok` to <tmp>/<name>/tokenizer.json and loads it back.
Tokenizer round_trip(const Tokenizer& tok, const std::string& name, std::string* text = nullptr) {
  const fs::path dir = k_tmp / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string written = tok.to_tokenizer_json();
  write_file_atomic(dir / "tokenizer.json", written);
  if (text) *text = written;
  return Tokenizer::from_tokenizer_json(dir / "tokenizer.json");
}

void expect_same_tokenizer(const Tokenizer& a, const Tokenizer& b, const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(a.hash(), b.hash());
  ASSERT_EQ(a.vocab_size(), b.vocab_size());
  for (std::int32_t id = 0; id < a.vocab_size(); ++id) {
    const std::vector<std::int32_t> one = {id};
    ASSERT_EQ(a.is_special(id), b.is_special(id)) << id;
    ASSERT_EQ(a.decode(one), b.decode(one)) << id;
  }
  int mismatches = 0;
  for (std::size_t i = 0; i < corpus().size(); ++i) {
    const std::string& s = corpus()[i];
    const auto ids = a.encode(s), special = a.encode(s, true);
    if (ids != b.encode(s) || special != b.encode(s, true) || a.decode(ids) != b.decode(ids) ||
        a.decode(special, true) != b.decode(special, true))
      if (++mismatches <= 5) ADD_FAILURE() << "corpus[" << i << "] encodes or decodes differently";
  }
  EXPECT_EQ(mismatches, 0) << " of " << corpus().size();
}

// Merges as ["a", "b"] pairs, whichever form the file uses.
json merge_pairs(const json& merges) {
  json out = json::array();
  for (const json& m : merges) {
    if (m.is_array()) {
      out.push_back(m);
    } else {
      const std::string s = m.get<std::string>();
      out.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
    }
  }
  return out;
}

TEST(TokenizerWrite, FixturesRoundTrip) {
  for (const char* name : {"edge", "llama3", "qwen2", "smollm2"}) {
    const Tokenizer original = Tokenizer::from_tokenizer_json(k_dir / name / "tokenizer.json");
    std::string text;
    const Tokenizer reloaded = round_trip(original, name, &text);
    expect_same_tokenizer(original, reloaded, name);
    // The same vocabulary, merges, added tokens and normalizer as the file it came from.
    const json source = load_json(k_dir / name / "tokenizer.json"), written = json::parse(text);
    EXPECT_EQ(written["model"]["vocab"], source["model"]["vocab"]) << name;
    EXPECT_EQ(written["model"]["merges"], merge_pairs(source["model"]["merges"])) << name;
    EXPECT_EQ(written["model"]["ignore_merges"], source["model"]["ignore_merges"]) << name;
    EXPECT_EQ(written["added_tokens"], source["added_tokens"]) << name;
    EXPECT_EQ(written["normalizer"], source["normalizer"]) << name;
    EXPECT_EQ(reloaded.to_tokenizer_json(), text) << name << ": writing is not idempotent";
  }
}

TokenizerSpec smollm2_spec() {
  const json j = load_json(k_dir / "smollm2" / "spec.json");
  TokenizerSpec spec;
  spec.tokens = j["tokens"].get<std::vector<std::string>>();
  spec.merges = j["merges"].get<std::vector<std::string>>();
  for (const json& run : j["token_type_runs"])
    spec.token_types.insert(spec.token_types.end(), run[1].get<std::size_t>(), run[0].get<std::int32_t>());
  spec.pre = j["pre"];
  spec.bos = j["bos"];
  spec.eos = j["eos"];
  spec.eot = j["eot"];
  spec.pad = j["pad"];
  spec.add_bos = j["add_bos"];
  spec.source = "smollm2/spec.json";
  return spec;
}

TEST(TokenizerWrite, SmolLM2FromGgufSpecRoundTrips) {
  // What a GGUF gives us, written out: SmolLM2's own tokenizer (Digits before ByteLevel), not
  // transformers' lossy GGUF conversion.
  const Tokenizer spec = Tokenizer::from_spec(smollm2_spec());
  std::string text;
  const Tokenizer reloaded = round_trip(spec, "smollm2_spec", &text);
  expect_same_tokenizer(spec, reloaded, "smollm2 from spec");
  const json written = json::parse(text), source = load_json(k_dir / "smollm2" / "tokenizer.json");
  EXPECT_EQ(written["model"]["vocab"], source["model"]["vocab"]);
  EXPECT_EQ(written["model"]["merges"], source["model"]["merges"]);
  EXPECT_EQ(written["pre_tokenizer"]["pretokenizers"][0], source["pre_tokenizer"]["pretokenizers"][0]);  // Digits
  EXPECT_EQ(written["pre_tokenizer"]["pretokenizers"][0]["type"], "Digits");
  EXPECT_EQ(reloaded.encode("1234"), (std::vector<std::int32_t>{*spec.token_id("1"), *spec.token_id("2"),
                                                                *spec.token_id("3"), *spec.token_id("4")}));
  // With add_bos the post-processor prepends BOS, and that survives the trip too.
  TokenizerSpec with_bos = smollm2_spec();
  with_bos.add_bos = true;
  const Tokenizer bos = Tokenizer::from_spec(with_bos);
  const Tokenizer bos_reloaded = round_trip(bos, "smollm2_spec_bos");
  EXPECT_EQ(bos_reloaded.encode("Hello", true).front(), 1);
  EXPECT_EQ(bos_reloaded.hash(), bos.hash());
}

}  // namespace
}  // namespace slm
