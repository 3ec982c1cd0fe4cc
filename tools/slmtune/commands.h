// commands.h — the table of slmtune's subcommands and the functions that run them.
#pragma once

#include <span>

#include "tools/slmtune/args.h"

namespace slm::cli {

std::span<const CommandSpec> all_commands();

int run_train(const ParsedArgs& args);
int run_prepare(const ParsedArgs& args);
int run_version(const ParsedArgs& args);
int run_inspect(const ParsedArgs& args);
int run_generate(const ParsedArgs& args);

}  // namespace slm::cli
