// test_data_examples.cpp — rendering and loss masks: SmolLM2's template and tokenizer against
// the transformers reference (tests/fixtures/data/smollm2_masks.json, tools/fixtures/data_masks.py),
// terminators trained, train_on_prompt, completion / alpaca / text rules.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/dataset/examples.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

const std::string k_src = SLM_SOURCE_DIR;

struct Smol {
  Tokenizer tok = Tokenizer::from_tokenizer_json(k_src + "/tests/fixtures/tokenizers/smollm2/tokenizer.json");
  std::optional<ChatTemplateText> tmpl = ChatTemplateText{
      read_file(k_src + "/tests/fixtures/chat_templates/templates/smollm2_gguf.jinja", "template"), "smollm2_gguf.jinja"};
};

Smol& smol() {
  static Smol s;
  return s;
}

Record chat_record(const nlohmann::json& messages) {
  Record r;
  r.format = DataFormat::Chat;
  r.where = "test:1";
  for (const auto& m : messages) r.messages.push_back({m.at("role"), m.at("content")});
  return r;
}

TEST(DataExamples, MasksEqualTransformersReference) {
  const nlohmann::json fx = nlohmann::json::parse(read_file(k_src + "/tests/fixtures/data/smollm2_masks.json", "fixture"));
  ExampleBuilder builder(smol().tok, smol().tmpl, {});
  const std::int32_t im_end = *smol().tok.token_id("<|im_end|>");
  ASSERT_GE(fx.at("cases").size(), 20u);
  int trained_terminators = 0;
  for (const auto& c : fx.at("cases")) {
    Example ex = builder.build(chat_record(c.at("messages")));
    EXPECT_EQ(ex.tokens, c.at("ids").get<std::vector<std::int32_t>>()) << c.at("text");
    EXPECT_EQ(ex.mask, c.at("mask").get<std::vector<std::uint8_t>>()) << c.at("text");
    EXPECT_EQ(ex.replies, ex.replies_terminated);
    // Every assistant turn's <|im_end|> is trained; the "\n" after it and the headers are not.
    std::int64_t assistants = 0;
    for (const auto& m : c.at("messages")) assistants += m.at("role") == "assistant";
    int trained_ends = 0;
    for (std::size_t t = 0; t < ex.tokens.size(); ++t) {
      if (ex.tokens[t] == im_end && ex.mask[t]) {
        ++trained_ends;
        if (t + 1 < ex.tokens.size()) {
          EXPECT_EQ(ex.mask[t + 1], 0);
        }
      }
    }
    EXPECT_EQ(trained_ends, assistants);
    trained_terminators += trained_ends;
  }
  EXPECT_GT(trained_terminators, 20);
}

TEST(DataExamples, TrainOnPromptTrainsEverythingButTheFirstToken) {
  ExampleBuilder builder(smol().tok, smol().tmpl, {.train_on_prompt = true});
  Example ex = builder.build(chat_record(nlohmann::json::parse(
      R"([{"role":"user","content":"q"},{"role":"assistant","content":"a"}])")));
  ASSERT_GT(ex.tokens.size(), 3u);
  EXPECT_EQ(ex.mask[0], 0);
  for (std::size_t t = 1; t < ex.mask.size(); ++t) EXPECT_EQ(ex.mask[t], 1);
  EXPECT_EQ(ex.replies_terminated, 1);
}

TEST(DataExamples, CompletionTrainsCompletionAndEos) {
  ExampleBuilder builder(smol().tok, smol().tmpl, {});
  Record r;
  r.format = DataFormat::Completion;
  r.prompt = "The capital of France is";
  r.completion = " Paris.";
  Example ex = builder.build(r);
  const auto p = smol().tok.encode(r.prompt, true), c = smol().tok.encode(r.completion, false);
  ASSERT_EQ(ex.tokens.size(), p.size() + c.size() + 1);
  EXPECT_EQ(ex.tokens.back(), smol().tok.eos());
  for (std::size_t t = 0; t < ex.tokens.size(); ++t) EXPECT_EQ(ex.mask[t], t >= p.size() ? 1 : 0) << t;
  EXPECT_EQ(ex.replies_terminated, 1);
}

TEST(DataExamples, AlpacaIsRenderedAsAChatWithTheModelsTemplate) {
  ExampleBuilder builder(smol().tok, smol().tmpl, {});
  Record a;
  a.format = DataFormat::Alpaca;
  a.instruction = "Translate";
  a.input = "chat";
  a.output = "cat";
  Example ex = builder.build(a);
  Example ref = builder.build(chat_record(nlohmann::json::parse(
      R"([{"role":"user","content":"Translate\n\nchat"},{"role":"assistant","content":"cat"}])")));
  EXPECT_EQ(ex.tokens, ref.tokens);
  EXPECT_EQ(ex.mask, ref.mask);
  // Without a chat template: the classic Alpaca prompt as a completion.
  ExampleBuilder plain(smol().tok, std::nullopt, {});
  Example px = plain.build(a);
  EXPECT_NE(smol().tok.decode(px.tokens).find("### Response:\ncat"), std::string::npos);
}

TEST(DataExamples, TextTrainsAllTokensAndEndsWithEos) {
  ExampleBuilder builder(smol().tok, smol().tmpl, {});
  Record r;
  r.format = DataFormat::Text;
  r.text = "Plain text to learn.";
  Example ex = builder.build(r);
  EXPECT_EQ(ex.tokens.back(), smol().tok.eos());
  EXPECT_EQ(ex.mask[0], 0);
  for (std::size_t t = 1; t < ex.mask.size(); ++t) EXPECT_EQ(ex.mask[t], 1);
}

TEST(DataExamples, TemplateWithoutTerminatorIsReported) {
  std::optional<ChatTemplateText> bare = ChatTemplateText{
      "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
      "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}", "bare.jinja"};
  ExampleBuilder builder(smol().tok, bare, {});
  Example ex = builder.build(chat_record(nlohmann::json::parse(
      R"([{"role":"user","content":"q"},{"role":"assistant","content":"a"}])")));
  EXPECT_EQ(ex.replies, 1);
  EXPECT_EQ(ex.replies_terminated, 0);
}

TEST(DataExamples, ChatWithoutTemplateAndBadUtf8AreErrorsWithThePlace) {
  ExampleBuilder none(smol().tok, std::nullopt, {});
  Record r = chat_record(nlohmann::json::parse(R"([{"role":"user","content":"q"}])"));
  try {
    none.build(r);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test:1: a chat record, but the model has no chat template"), std::string::npos);
  }
  ExampleBuilder builder(smol().tok, smol().tmpl, {});
  Record t;
  t.format = DataFormat::Text;
  t.text = "bad \xff byte";
  t.where = "f.jsonl:7";
  try {
    builder.build(t);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("f.jsonl:7: ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace slm
