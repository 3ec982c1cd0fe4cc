// main.cpp — the slmtune program: picks the subcommand, runs it, and is the only place that
// catches errors. Exit codes: 0 success, 1 an error (printed), 2 a usage error (with usage).
#include <iostream>
#include <string>
#include <vector>

#include "tools/slmtune/commands.h"

using slm::cli::CommandSpec;

int main(int argc, char** argv) {
  const auto commands = slm::cli::all_commands();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << slm::cli::program_usage(commands);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << slm::cli::program_usage(commands);
    return 0;
  }
  if (args[0] == "--version") args[0] = "version";
  const CommandSpec* command = nullptr;
  for (const CommandSpec& c : commands)
    if (c.name == args[0]) command = &c;
  if (!command) {
    std::cerr << "slmtune: unknown command '" << args[0] << "'\n\n" << slm::cli::program_usage(commands);
    return 2;
  }
  try {
    auto parsed = slm::cli::parse_args(*command, std::span(args).subspan(1));
    if (parsed.has("--help")) {
      std::cout << slm::cli::usage_text(*command);
      return 0;
    }
    if (!command->run) {
      std::cerr << "slmtune " << command->name << ": not available in this build: " << command->pending << "\n";
      return 1;
    }
    return command->run(parsed);
  } catch (const slm::cli::UsageError& e) {
    std::cerr << "slmtune " << command->name << ": " << e.what() << "\n\n" << slm::cli::usage_text(*command);
    return 2;
  } catch (const slm::Error& e) {
    std::cerr << "slmtune " << command->name << ": error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "slmtune " << command->name << ": internal error: " << e.what()
              << "\nThis is a bug in slmtune; please report it with the command you ran.\n";
    return 1;
  }
}
