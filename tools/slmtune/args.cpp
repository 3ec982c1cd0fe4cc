// args.cpp — strict flag parsing and usage text for the slmtune command line.
#include "tools/slmtune/args.h"

#include <charconv>

#include "train/core/text.h"

namespace slm::cli {
namespace {

const FlagSpec* find_flag(const CommandSpec& command, const std::string& name) {
  for (const FlagSpec& f : command.flags)
    if (f.name == name) return &f;
  return nullptr;
}

std::string unknown_flag_message(const CommandSpec& command, const std::string& name) {
  std::vector<std::string> names{"--help"};
  for (const FlagSpec& f : command.flags) names.push_back(f.name);
  std::string suggestion = closest_match(name, names);
  return "unknown option '" + name + "' for 'slmtune " + command.name + "'" +
         (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?");
}

}  // namespace

std::string ParsedArgs::get(const std::string& flag, const std::string& fallback) const {
  auto it = values.find(flag);
  return it == values.end() ? fallback : it->second;
}

long long ParsedArgs::get_int(const std::string& flag, long long fallback) const {
  if (!has(flag)) return fallback;
  const std::string& text = values.at(flag);
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    throw UsageError(flag + " expects an integer, got '" + text + "'");
  return value;
}

double ParsedArgs::get_double(const std::string& flag, double fallback) const {
  if (!has(flag)) return fallback;
  const std::string& text = values.at(flag);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    throw UsageError(flag + " expects a number, got '" + text + "'");
  return value;
}

ParsedArgs parse_args(const CommandSpec& command, std::span<const std::string> args) {
  ParsedArgs parsed;
  parsed.command = &command;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      parsed.values["--help"] = "";
      return parsed;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      std::string name = arg, value;
      bool inline_value = false;
      if (auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        inline_value = true;
      }
      const FlagSpec* flag = find_flag(command, name);
      if (!flag) throw UsageError(unknown_flag_message(command, name));
      if (flag->value_name.empty()) {
        if (inline_value) throw UsageError(name + " takes no value");
      } else if (!inline_value) {
        if (i + 1 >= args.size()) throw UsageError(name + " needs a value (" + flag->value_name + ")");
        value = args[++i];
      }
      parsed.values[name] = value;
      continue;
    }
    parsed.positional.push_back(arg);
  }
  const int n = static_cast<int>(parsed.positional.size());
  if (n < command.min_positional)
    throw UsageError("'slmtune " + command.name + "' needs " + command.synopsis);
  if (command.max_positional >= 0 && n > command.max_positional)
    throw UsageError("unexpected argument '" + parsed.positional[command.max_positional] + "'");
  return parsed;
}

std::string usage_text(const CommandSpec& command) {
  std::string text = "usage: slmtune " + command.name + (command.synopsis.empty() ? "" : " " + command.synopsis) +
                     (command.flags.empty() ? "" : " [options]") + "\n\n" + command.description + "\n";
  text += "\noptions:\n";
  std::vector<FlagSpec> all = command.flags;
  all.push_back({"--help", "", "Show this help and exit."});
  for (const FlagSpec& f : all) {
    std::string left = "  " + f.name + (f.value_name.empty() ? "" : " " + f.value_name);
    if (left.size() < 26) left.resize(26, ' ');
    else left += "\n" + std::string(26, ' ');
    text += left + f.help + "\n";
  }
  return text;
}

std::string program_usage(std::span<const CommandSpec> commands) {
  std::string text =
      "usage: slmtune COMMAND [arguments] [options]\n\n"
      "slmtune fine-tunes small language models with LoRA adapters from a YAML recipe.\n\n"
      "commands:\n";
  for (const CommandSpec& c : commands) {
    std::string left = "  " + c.name;
    left.resize(12, ' ');
    text += left + c.summary + "\n";
  }
  text += "\n'slmtune COMMAND --help' describes a command.\n";
  return text;
}

}  // namespace slm::cli
