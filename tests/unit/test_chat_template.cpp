// test_chat_template.cpp — the chat template interpreter against transformers: every real
// template x conversation renders byte-identical to apply_chat_template (fixtures written by
// tools/fixtures/chat_templates.py), raise_exception messages come through, and syntax errors,
// unknown filters and unknown tests are reported with their place.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>

#include "data/chat_template/builtin.h"
#include "data/chat_template/chat_template.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace {

const std::filesystem::path k_dir = std::filesystem::path(SLM_SOURCE_DIR) / "tests/fixtures/chat_templates";

using ojson = nlohmann::ordered_json;

const ojson& fixtures() {
  static const ojson k_cases = ojson::parse(read_file(k_dir / "cases.json", "chat template fixtures"));
  return k_cases;
}

std::tm fixed_now() {
  std::tm t{};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 6;
  t.tm_mday = 26;
  t.tm_hour = 14;
  t.tm_min = 5;
  t.tm_sec = 9;
  t.tm_wday = 5;  // Friday
  t.tm_yday = 207;
  return t;
}

// The first place two renderings differ, with some context, for readable failures.
std::string first_difference(const std::string& got, const std::string& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  got:  ..." + ojson(got.substr(from, 100)).dump() +
         "\n  want: ..." + ojson(want.substr(from, 100)).dump();
}

// Renders one fixture case; returns "" when it matches transformers, else what went wrong.
std::string check_case(const ChatTemplate& tmpl, const ojson& c) {
  std::string got, error;
  try {
    got = tmpl.render_json(c["context"]);
  } catch (const Error& e) {
    error = e.what();
  }
  if (c.contains("error")) {
    if (error.empty()) return "expected an error (" + c["error"].dump() + "), got a rendering";
    if (c["error"]["type"] == "TemplateError" &&
        error.find(c["error"]["message"].get<std::string>()) == std::string::npos)
      return "error message lacks the template's message " + c["error"]["message"].dump() + ": " + error;
    return "";
  }
  if (!error.empty()) return "unexpected error: " + error;
  const std::string want = c["expected"].get<std::string>();
  return got == want ? "" : first_difference(got, want);
}

TEST(ChatTemplate, EveryRealTemplateRendersLikeTransformers) {
  std::map<std::string, std::unique_ptr<ChatTemplate>> templates;
  int checked = 0, failed = 0, errors = 0;
  std::map<std::string, int> failures_per_template;
  for (const ojson& c : fixtures()["cases"]) {
    const std::string name = c["template"].get<std::string>();
    auto& tmpl = templates[name];
    if (!tmpl) {
      std::filesystem::path path = k_dir / "templates" / (name + ".jinja");
      tmpl = std::make_unique<ChatTemplate>(read_file(path, "chat template"), path.string());
      tmpl->set_fixed_now(fixed_now());
    }
    std::string problem = check_case(*tmpl, c);
    ++checked;
    errors += c.contains("error");
    if (problem.empty()) continue;
    ++failed;
    if (failures_per_template[name]++ < 2)
      ADD_FAILURE() << name << " / " << c["conversation"].get<std::string>()
                    << " / add_generation_prompt=" << c["add_generation_prompt"] << ": " << problem;
  }
  EXPECT_EQ(failed, 0) << "of " << checked << " cases";
  EXPECT_GE(templates.size(), 30u);
  EXPECT_GE(errors, 20);
  std::printf("chat templates: %zu templates, %d cases (%d raise), %d differ\n", templates.size(), checked, errors,
              failed);
}

// The built-in ChatML fallback renders like transformers renders axolotl's chatml template.
TEST(ChatTemplate, BuiltinChatmlRendersLikeTheRealChatmlTemplate) {
  const auto text = builtin_chat_template("chatml");
  ASSERT_TRUE(text.has_value());
  EXPECT_FALSE(builtin_chat_template("nonesuch").has_value());
  ChatTemplate builtin(*text, "built-in chatml");
  int checked = 0;
  for (const ojson& c : fixtures()["cases"]) {
    if (c["template"] != "chatml" || c.contains("error") || !c.value("plain", false)) continue;
    EXPECT_EQ(builtin.render_json(c["context"]), c["expected"].get<std::string>()) << c["conversation"];
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

// The typed API gives the same text as the JSON form for plain role/content conversations.
TEST(ChatTemplate, RenderMatchesRenderJsonForPlainMessages) {
  int checked = 0;
  std::map<std::string, std::unique_ptr<ChatTemplate>> templates;
  for (const ojson& c : fixtures()["cases"]) {
    if (!c["plain"].get<bool>() || c.contains("error")) continue;
    const std::string name = c["template"].get<std::string>();
    auto& tmpl = templates[name];
    if (!tmpl) {
      tmpl = std::make_unique<ChatTemplate>(read_file(k_dir / "templates" / (name + ".jinja"), "t"), name);
      tmpl->set_fixed_now(fixed_now());
    }
    std::vector<ChatMessage> messages;
    for (const ojson& m : c["context"]["messages"]) messages.push_back({m["role"], m["content"]});
    const ojson& ctx = c["context"];
    EXPECT_EQ(tmpl->render(messages, ctx["add_generation_prompt"], ctx["bos_token"], ctx["eos_token"]),
              c["expected"].get<std::string>())
        << name << " / " << c["conversation"].get<std::string>();
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

TEST(ChatTemplate, FeatureSnippetsRenderLikeTransformers) {
  for (const ojson& s : fixtures()["snippets"]) {
    const std::string text = s["template"].get<std::string>();
    SCOPED_TRACE(text);
    ChatTemplate tmpl(text, "snippet");
    tmpl.set_fixed_now(fixed_now());
    std::string problem = check_case(tmpl, s);
    EXPECT_EQ(problem, "");
  }
}

TEST(ChatTemplate, SmolLM2TemplateFromTheGgufRendersAConversation) {
  ChatTemplate tmpl(read_file(k_dir / "templates/smollm2_gguf.jinja", "t"), "GGUF tokenizer.chat_template");
  std::vector<ChatMessage> messages = {{"user", "What is a compiler?"}};
  EXPECT_EQ(tmpl.render(messages, true, "", "<|im_end|>"),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nWhat is a compiler?<|im_end|>\n<|im_start|>assistant\n");
}

std::string error_of(std::string_view text, const nlohmann::json& context = nlohmann::json::object()) {
  try {
    ChatTemplate tmpl(text, "bad.jinja");
    tmpl.render_json(context);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "message: " << (haystack)

TEST(ChatTemplate, RaiseExceptionCarriesTheTemplatesMessage) {
  std::string e = error_of("line one\n{% if x %}{{ raise_exception('Roles must alternate!') }}{% endif %}", {{"x", 1}});
  EXPECT_CONTAINS(e, "bad.jinja:2:");
  EXPECT_CONTAINS(e, "Roles must alternate!");
  std::vector<ChatMessage> two_users = {{"user", "a"}, {"user", "b"}};
  ChatTemplate llama(read_file(k_dir / "templates/mistral_v1.jinja", "t"), "mistral_v1.jinja");
  try {
    llama.render(two_users, false, "<s>", "</s>");
    ADD_FAILURE() << "no error";
  } catch (const Error& err) {
    EXPECT_CONTAINS(err.what(), "conversation roles must alternate user/assistant/user/assistant/...");
  }
}

TEST(ChatTemplate, SyntaxErrorsNameLineAndColumn) {
  EXPECT_CONTAINS(error_of("ok\n  {% if x %}never closed"), "bad.jinja:");
  EXPECT_CONTAINS(error_of("ok\n  {% if x %}never closed"), "expected 'elif' or 'else' or 'endif'");
  EXPECT_CONTAINS(error_of("a\nb {{ 1 + }}"), "bad.jinja:2:10:");
  EXPECT_CONTAINS(error_of("{% frobnicate %}"), "bad.jinja:1:4: template syntax error: unknown tag 'frobnicate'");
  EXPECT_CONTAINS(error_of("\n\n   {{ 'unterminated }}"), "bad.jinja:3:7:");
  EXPECT_CONTAINS(error_of("{# never closed"), "bad.jinja:1:1:");
  EXPECT_CONTAINS(error_of("{{ x ]"), "bad.jinja:1:6:");
  EXPECT_CONTAINS(error_of("{% for x in y %}{% endif %}"), "bad.jinja:1:");
  // Found by the fuzz run (tools/fuzz_data.sh): huge literals were std::out_of_range.
  EXPECT_CONTAINS(error_of("{{ 99999999999999999999 }}"), "bad.jinja:1:4: template syntax error: number literal");
  EXPECT_CONTAINS(error_of("{{ 1e99999 }}"), "is out of range");
}

TEST(ChatTemplate, UnknownFiltersAndTestsAreNamed) {
  std::string e = error_of("{{ messages | frobnicate }}");
  EXPECT_CONTAINS(e, "bad.jinja:1:15:");
  EXPECT_CONTAINS(e, "unknown filter 'frobnicate'");
  EXPECT_CONTAINS(error_of("\n{% if x is frob %}{% endif %}"), "bad.jinja:2:12: template syntax error: unknown test 'frob'");
  EXPECT_CONTAINS(error_of("{{ [1]|map('nope')|list }}"), "no filter named 'nope'");
}

TEST(ChatTemplate, RuntimeErrorsNameThePlace) {
  EXPECT_CONTAINS(error_of("\n  {{ missing.attr }}"), "bad.jinja:2:");
  EXPECT_CONTAINS(error_of("\n  {{ missing.attr }}"), "'missing' is undefined");
  EXPECT_CONTAINS(error_of("{{ 1 + 'a' }}"), "unsupported operand types for +: int and string");
  EXPECT_CONTAINS(error_of("{% set x = 1 %}{% set x.y = 2 %}"), "only namespace() objects");
}

TEST(ChatTemplate, UndefinedBehavesLikeJinja) {
  ChatTemplate tmpl("[{{ nope }}|{{ nope is defined }}|{{ nope|length }}|{% for x in nope %}x{% endfor %}|"
                    "{{ 'y' if not nope }}|{{ {'a': 1}.b }}]",
                    "t");
  EXPECT_EQ(tmpl.render_json(nlohmann::json::object()), "[|False|0||y|]");
}

TEST(ChatTemplate, JsonContextKeepsOrderWithOrderedJson) {
  ChatTemplate tmpl("{{ tools|tojson }}", "t");
  EXPECT_EQ(tmpl.render_json(ojson::parse(R"({"tools": {"z": 1, "a": "é"}})")), R"({"z": 1, "a": "é"})");
  EXPECT_EQ(tmpl.render_json(nlohmann::json::parse(R"({"tools": {"z": 1, "a": 2}})")), R"({"a": 2, "z": 1})");
}

}  // namespace
}  // namespace slm
