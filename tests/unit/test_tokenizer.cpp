// test_tokenizer.cpp — the byte-level BPE tokenizer against Hugging Face `tokenizers`.
//
// Every corpus string (tests/fixtures/tokenizers/corpus.json, written by
// tools/fixtures/tokenizers.py) encodes to exactly HF's ids and decodes to HF's text for the
// SmolLM2 (converted from the real GGUF), Llama 3 style, Qwen 2 style and edge-case tokenizers;
// from_spec equals what transformers builds from GGUF metadata; special tokens; malformed inputs.
// Does not hold: chat templates or datasets.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/tokenizer/tokenizer.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path k_dir = fs::path(SLM_SOURCE_DIR) / "tests" / "fixtures" / "tokenizers";

json load_json(const fs::path& path) { return json::parse(read_file(path, "fixture")); }

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> strings = load_json(k_dir / "corpus.json")["strings"];
  return strings;
}

const Tokenizer& from_json(const std::string& name) {
  static std::map<std::string, Tokenizer> cache;  // one load per tokenizer for the whole suite
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, Tokenizer::from_tokenizer_json(k_dir / name / "tokenizer.json")).first;
  return it->second;
}

// Non-ASCII and control characters as \xNN escapes, so failures print readably.
std::string escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string show(const Tokenizer& tok, const std::vector<std::int32_t>& ids) {
  std::string out = "[";
  for (std::size_t k = 0; k < ids.size(); ++k) {
    if (k) out += ", ";
    out += std::to_string(ids[k]);
    if (ids[k] >= 0 && ids[k] < tok.vocab_size()) out += " '" + escaped(tok.token_bytes(ids[k])) + "'";
  }
  return out + "]";
}

// Compares encode / decode over the whole corpus with expected.json; reports the first mismatches.
void check_corpus(const Tokenizer& tok, const json& expected, const char* name, bool spec_ids = false) {
  const auto& strings = corpus();
  int mismatches = 0, checked = 0;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    std::string key = std::to_string(i);
    std::vector<std::int32_t> want = expected["ids"][i];
    if (spec_ids && expected["spec_ids"].contains(key)) want = expected["spec_ids"][key].get<std::vector<std::int32_t>>();
    std::vector<std::int32_t> got = tok.encode(strings[i]);
    std::string want_text = expected["decoded"].contains(key) ? expected["decoded"][key].get<std::string>() : strings[i];
    std::string got_text = tok.decode(expected["ids"][i].get<std::vector<std::int32_t>>());
    ++checked;
    if (got == want && (spec_ids || got_text == want_text)) continue;
    if (++mismatches <= 5) {
      ADD_FAILURE() << name << ": corpus[" << i << "] = \"" << escaped(strings[i]) << "\"\n  expected ids " << show(tok, want)
                    << "\n  got ids      " << show(tok, got) << "\n  expected decode \"" << escaped(want_text)
                    << "\"\n  got decode      \"" << escaped(got_text) << "\"";
    }
  }
  EXPECT_EQ(mismatches, 0) << name << ": " << mismatches << " of " << checked << " strings differ";
  if (spec_ids) return;
  const json& special = expected["special"];
  for (std::size_t k = 0; k < special["index"].size(); ++k) {
    std::size_t i = special["index"][k];
    std::vector<std::int32_t> want = special["ids"][k];
    EXPECT_EQ(tok.encode(strings[i], true), want) << name << ": add_special, corpus[" << i << "]";
    EXPECT_EQ(tok.decode(want, true), special["decoded_skip"][k].get<std::string>()) << name << ": skip_special, corpus[" << i << "]";
  }
}

TEST(Tokenizer, CorpusIsLargeAndVaried) {
  EXPECT_GE(corpus().size(), 1000u);
  EXPECT_EQ(corpus()[0], "");
}

TEST(Tokenizer, SmolLM2MatchesHuggingFace) {
  check_corpus(from_json("smollm2"), load_json(k_dir / "smollm2" / "expected.json"), "smollm2");
}
TEST(Tokenizer, Llama3MatchesHuggingFace) {
  check_corpus(from_json("llama3"), load_json(k_dir / "llama3" / "expected.json"), "llama3");
}
TEST(Tokenizer, Qwen2MatchesHuggingFace) {
  check_corpus(from_json("qwen2"), load_json(k_dir / "qwen2" / "expected.json"), "qwen2");
}
TEST(Tokenizer, EdgeCasesMatchHuggingFace) {
  check_corpus(from_json("edge"), load_json(k_dir / "edge" / "expected.json"), "edge");
}

TokenizerSpec smollm2_spec() {
  json j = load_json(k_dir / "smollm2" / "spec.json");
  TokenizerSpec spec;
  spec.tokens = j["tokens"].get<std::vector<std::string>>();
  spec.merges = j["merges"].get<std::vector<std::string>>();
  for (const json& run : j["token_type_runs"]) spec.token_types.insert(spec.token_types.end(), run[1].get<std::size_t>(), run[0].get<std::int32_t>());
  spec.pre = j["pre"];
  spec.bos = j["bos"];
  spec.eos = j["eos"];
  spec.eot = j["eot"];
  spec.pad = j["pad"];
  spec.add_bos = j["add_bos"];
  spec.source = "smollm2/spec.json";
  return spec;
}

TEST(Tokenizer, SmolLM2FromSpecEqualsTokenizerJson) {
  Tokenizer spec = Tokenizer::from_spec(smollm2_spec());
  const Tokenizer& json_tok = from_json("smollm2");
  check_corpus(spec, load_json(k_dir / "smollm2" / "expected.json"), "smollm2 from_spec");
  EXPECT_EQ(spec.hash(), json_tok.hash());
  EXPECT_EQ(spec.vocab_size(), json_tok.vocab_size());
  EXPECT_EQ(spec.bos(), 1);
  EXPECT_EQ(spec.eos(), 2);
  EXPECT_EQ(spec.eot(), 2);  // <|im_end|>, found by name
  EXPECT_EQ(json_tok.bos(), 1);  // from tokenizer_config.json
  EXPECT_EQ(json_tok.eos(), 2);
  EXPECT_EQ(json_tok.eot(), 2);
  for (std::int32_t id = 0; id < 17; ++id) EXPECT_TRUE(spec.is_special(id) && json_tok.is_special(id)) << id;
  EXPECT_FALSE(spec.is_special(17));
}

// The spec convert_hf_to_gguf would write for a tokenizer.json: special added tokens are control,
// other added tokens user-defined.
TokenizerSpec spec_from_json(const std::string& name, const std::string& pre) {
  json j = load_json(k_dir / name / "tokenizer.json");
  std::map<std::int32_t, std::pair<std::string, std::int32_t>> by_id;
  for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) by_id[it.value()] = {it.key(), 1};
  for (const json& a : j["added_tokens"]) by_id[a["id"]] = {a["content"], a["special"].get<bool>() ? 3 : 4};
  TokenizerSpec spec;
  for (auto& [id, entry] : by_id) {
    EXPECT_EQ(id, static_cast<std::int32_t>(spec.tokens.size()));
    spec.tokens.push_back(entry.first);
    spec.token_types.push_back(entry.second);
  }
  for (const json& m : j["model"]["merges"]) spec.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  spec.pre = pre;
  spec.source = name + " spec";
  return spec;
}

TEST(Tokenizer, FromSpecMatchesTransformersGgufConversion) {
  for (auto [name, pre] : {std::pair{"llama3", "llama-bpe"}, {"qwen2", "qwen2"}}) {
    Tokenizer tok = Tokenizer::from_spec(spec_from_json(name, pre));
    check_corpus(tok, load_json(k_dir / name / "expected.json"), pre, /*spec_ids=*/true);
  }
}

TEST(Tokenizer, SpecialTokens) {
  const Tokenizer& llama = from_json("llama3");
  std::int32_t bot = *llama.token_id("<|begin_of_text|>");
  EXPECT_EQ(llama.bos(), bot);
  EXPECT_EQ(llama.eos(), *llama.token_id("<|eot_id|>"));
  EXPECT_EQ(llama.eot(), *llama.token_id("<|eot_id|>"));
  EXPECT_TRUE(llama.is_special(bot));
  EXPECT_EQ(llama.token_text(bot), "<|begin_of_text|>");
  std::vector<std::int32_t> ids = llama.encode("Hi<|eot_id|>", true);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), bot);
  EXPECT_EQ(ids.back(), llama.eot());
  EXPECT_EQ(llama.decode(ids), "<|begin_of_text|>Hi<|eot_id|>");
  EXPECT_EQ(llama.decode(ids, true), "Hi");

  const Tokenizer& qwen = from_json("qwen2");
  EXPECT_EQ(qwen.bos(), -1);
  EXPECT_EQ(qwen.eot(), *qwen.token_id("<|im_end|>"));
  EXPECT_EQ(qwen.pad(), *qwen.token_id("<|endoftext|>"));
  EXPECT_FALSE(qwen.is_special(*qwen.token_id("<think>")));  // added, not special: kept by skip_special
  EXPECT_EQ(qwen.encode("x", true), qwen.encode("x"));       // Qwen adds no BOS

  const Tokenizer& smol = from_json("smollm2");
  EXPECT_EQ(smol.vocab_size(), 49152);
  std::int32_t world = *smol.token_id("Ġworld");
  EXPECT_EQ(smol.token_bytes(world), " world");
  EXPECT_EQ(smol.token_text(world), "Ġworld");
  EXPECT_FALSE(smol.token_id("no such token").has_value());
  EXPECT_EQ(smol.hash().size(), 16u);
  EXPECT_NE(smol.hash(), llama.hash());
  EXPECT_NE(llama.hash(), qwen.hash());
}

TEST(Tokenizer, SpecAddBosPrependsBos) {
  TokenizerSpec spec = smollm2_spec();
  spec.add_bos = true;
  Tokenizer tok = Tokenizer::from_spec(spec);
  EXPECT_EQ(tok.encode("Hello", true), (std::vector<std::int32_t>{1, tok.encode("Hello")[0]}));
  EXPECT_NE(tok.hash(), from_json("smollm2").hash());
}

// Runs `fn` and returns the slm::Error message ("" when it did not throw).
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

fs::path write_temp(const std::string& name, const std::string& text) {
  fs::path dir = fs::path(SLM_BINARY_DIR) / "test_tokenizer_tmp" / name;
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << text;
  return dir / "tokenizer.json";
}

TEST(Tokenizer, MalformedTokenizerJsonNamesTheFile) {
  fs::path missing_model = write_temp("missing_model", R"({"version": "1.0", "added_tokens": []})");
  std::string e = error_of([&] { Tokenizer::from_tokenizer_json(missing_model); });
  EXPECT_NE(e.find(missing_model.string()), std::string::npos) << e;
  EXPECT_NE(e.find("'model'"), std::string::npos) << e;

  fs::path bad_merge = write_temp("bad_merge", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
      "merges": ["a b", "a zz"]}, "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}})");
  e = error_of([&] { Tokenizer::from_tokenizer_json(bad_merge); });
  EXPECT_NE(e.find(bad_merge.string()), std::string::npos) << e;
  EXPECT_NE(e.find("merges[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("'zz'"), std::string::npos) << e;

  fs::path bad_json = write_temp("bad_json", "{\n  \"model\": {\n    \"vocab\": {,}\n  }\n}\n");
  e = error_of([&] { Tokenizer::from_tokenizer_json(bad_json); });
  EXPECT_NE(e.find(bad_json.string() + ":3:15"), std::string::npos) << e;

  fs::path unigram = write_temp("unigram", R"({"model": {"type": "Unigram", "vocab": []}})");
  e = error_of([&] { Tokenizer::from_tokenizer_json(unigram); });
  EXPECT_NE(e.find("Unigram"), std::string::npos) << e;

  e = error_of([&] { Tokenizer::from_tokenizer_json(k_dir / "nonexistent" / "tokenizer.json"); });
  EXPECT_NE(e.find("nonexistent"), std::string::npos) << e;
}

TEST(Tokenizer, UnknownPreIsAnError) {
  TokenizerSpec spec;
  spec.tokens = {"a", "b", "ab"};
  spec.merges = {"a b"};
  spec.pre = "chameleon";
  spec.source = "model.gguf";
  std::string e = error_of([&] { Tokenizer::from_spec(spec); });
  EXPECT_NE(e.find("'chameleon'"), std::string::npos) << e;
  EXPECT_NE(e.find("model.gguf"), std::string::npos) << e;
  spec.pre = "gpt2";
  spec.merges = {"a c"};
  e = error_of([&] { Tokenizer::from_spec(spec); });
  EXPECT_NE(e.find("'c'"), std::string::npos) << e;
}

TEST(Tokenizer, InvalidUtf8IsAnErrorWithItsOffset) {
  const Tokenizer& tok = from_json("smollm2");
  for (auto [text, offset] : {std::pair{std::string("ab\xff"), 2}, {std::string("x\xe2\x82"), 1},
                              {std::string("\xed\xa0\x80"), 0}, {std::string("ok\xc0\xaf"), 2}}) {
    std::string e = error_of([&] { tok.encode(text); });
    EXPECT_NE(e.find("byte offset " + std::to_string(offset)), std::string::npos) << e;
  }
  std::vector<std::int32_t> bad = {5, tok.vocab_size()};
  EXPECT_NE(error_of([&] { tok.decode(bad); }).find("ids[1]"), std::string::npos);
  // A token standing for a lone UTF-8 lead byte (0xc3, spelled "\u00c3") decodes to U+FFFD, like HF.
  std::int32_t lead = *tok.token_id("\xc3\x83");
  EXPECT_EQ(tok.token_bytes(lead), "\xc3");
  EXPECT_EQ(tok.decode(std::vector<std::int32_t>{lead}), "\xef\xbf\xbd");
  EXPECT_EQ(tok.decode(std::vector<std::int32_t>{lead, *tok.token_id("\xc2\xa9")}), "\xc3\xa9");  // + 0xa9 = "é"
}

TEST(Tokenizer, OneMegabyteEncodesAndRoundTrips) {
  std::string text;
  for (std::size_t i = 0; text.size() < (1u << 20); ++i) text += corpus()[i % corpus().size()] + "\n";
  const Tokenizer& tok = from_json("smollm2");
  auto start = std::chrono::steady_clock::now();
  std::vector<std::int32_t> ids = tok.encode(text);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("encode: %zu bytes -> %zu ids in %.3f s\n", text.size(), ids.size(), seconds);
  EXPECT_EQ(tok.decode(ids), text);  // no normalizer: decode(encode(x)) == x
}

}  // namespace
}  // namespace slm
