// args.h — the command line's vocabulary: a command's flags and usage, and a strict parser.
//
// Holds: CommandSpec (name, synopsis, flags, positionals), parse_args, usage_text, UsageError.
// Unknown flags, missing flag values and wrong positional counts are UsageErrors, which main
// reports with the command's usage and exit code 2.
// Does not hold: what any command does (commands/*.cpp).
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "train/core/error.h"

namespace slm::cli {

class UsageError : public Error {
 public:
  using Error::Error;
};

struct FlagSpec {
  std::string name;        // "--max-new-tokens"
  std::string value_name;  // "N"; empty for a switch
  std::string help;
};

struct ParsedArgs;
struct CommandSpec {
  std::string name;
  std::string summary;      // one line, for `slmtune --help`
  std::string synopsis;     // "RECIPE [section.key=value ...]"
  std::string description;  // a paragraph for `slmtune NAME --help`
  std::vector<FlagSpec> flags;
  int min_positional = 0;
  int max_positional = 0;  // -1: unbounded
  int (*run)(const ParsedArgs&) = nullptr;  // null: the command is not in this build yet
  std::string pending;                        // then: what is missing, said to the user
};

struct ParsedArgs {
  const CommandSpec* command = nullptr;
  std::map<std::string, std::string> values;  // flags with values, and switches ("" value)
  std::vector<std::string> positional;

  bool has(const std::string& flag) const { return values.count(flag) != 0; }
  std::string get(const std::string& flag, const std::string& fallback = "") const;
  long long get_int(const std::string& flag, long long fallback) const;
  double get_double(const std::string& flag, double fallback) const;
};

// Parses everything after the command name. `--help` anywhere yields values["--help"].
ParsedArgs parse_args(const CommandSpec& command, std::span<const std::string> args);

std::string usage_text(const CommandSpec& command);
std::string program_usage(std::span<const CommandSpec> commands);

}  // namespace slm::cli
