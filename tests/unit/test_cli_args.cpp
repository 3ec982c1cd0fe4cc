// test_cli_args.cpp — the strict flag parser: values, switches, unknown flags, positionals.
#include <gtest/gtest.h>

#include "tools/slmtune/args.h"
#include "tools/slmtune/commands.h"

namespace slm::cli {
namespace {

const CommandSpec& command(const std::string& name) {
  for (const CommandSpec& c : all_commands())
    if (c.name == name) return c;
  throw std::runtime_error("no command " + name);
}

ParsedArgs parse(const std::string& name, std::vector<std::string> args) {
  return parse_args(command(name), args);
}

TEST(Args, ValuesSwitchesAndInlineValues) {
  auto p = parse("generate", {"--model", "m.gguf", "--chat", "--max-new-tokens=12", "--top-p", "0.9"});
  EXPECT_EQ(p.get("--model"), "m.gguf");
  EXPECT_TRUE(p.has("--chat"));
  EXPECT_EQ(p.get_int("--max-new-tokens", 0), 12);
  EXPECT_DOUBLE_EQ(p.get_double("--top-p", 1), 0.9);
  EXPECT_DOUBLE_EQ(p.get_double("--temperature", 0.5), 0.5);
}

TEST(Args, UnknownFlagSuggestsTheClosest) {
  try {
    parse("generate", {"--max-new-token", "3"});
    FAIL() << "expected a usage error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean '--max-new-tokens'"), std::string::npos) << e.what();
  }
}

TEST(Args, MissingValueAndBadNumbers) {
  EXPECT_THROW(parse("generate", {"--model"}), UsageError);
  EXPECT_THROW(parse("generate", {"--chat=yes"}), UsageError);
  auto p = parse("generate", {"--seed", "x1"});
  EXPECT_THROW(p.get_int("--seed", 0), UsageError);
}

TEST(Args, PositionalCounts) {
  EXPECT_THROW(parse("inspect", {}), UsageError);
  EXPECT_THROW(parse("inspect", {"a", "b"}), UsageError);
  EXPECT_EQ(parse("inspect", {"a"}).positional.size(), 1u);
  EXPECT_TRUE(parse("inspect", {"--help"}).has("--help"));
}

TEST(Args, EveryCommandHasHelp) {
  for (const CommandSpec& c : all_commands()) {
    std::string usage = usage_text(c);
    EXPECT_EQ(usage.rfind("usage: slmtune " + c.name, 0), 0u) << usage;
    EXPECT_NE(usage.find("--help"), std::string::npos);
    for (const FlagSpec& f : c.flags) EXPECT_NE(usage.find(f.name), std::string::npos) << f.name;
  }
}

}  // namespace
}  // namespace slm::cli
