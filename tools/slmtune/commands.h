// commands.h — the table of slmtune's subcommands and the functions that run them.
#pragma once

#include <span>

#include <filesystem>
#include <memory>
#include <vector>

#include "checkpoints/export.h"
#include "tools/slmtune/args.h"
#include "train/recipe/recipe.h"

namespace slm::cli {

std::span<const CommandSpec> all_commands();

// RECIPE [section.key=value ...] from the positional arguments, loaded and validated.
LoadedRecipe resolve_recipe_args(const ParsedArgs& args);
// The run directory of a recipe: <output.dir>/<output.name>.
std::filesystem::path run_directory(const Recipe& recipe);
// Writes <run>/recipe.yaml (the resolved recipe) and says where; returns the run directory.
std::filesystem::path record_resolved_recipe(const LoadedRecipe& loaded);

int run_train(const ParsedArgs& args);
int run_eval(const ParsedArgs& args);
int run_prepare(const ParsedArgs& args);
int run_version(const ParsedArgs& args);
int run_inspect(const ParsedArgs& args);
int run_generate(const ParsedArgs& args);
int run_logits(const ParsedArgs& args);
int run_export(const ParsedArgs& args);
// `train --plan`: the CUDA backend's predicted device memory for a recipe.
int print_train_plan(const Recipe& recipe, const ParsedArgs& args);

// Runs export jobs of one adapter directory (all on the same base model, jobs[0].base_model);
// the base weights are loaded (or `model` used) and merged once when a format needs them.
void export_formats(const std::vector<ExportSettings>& jobs, const std::filesystem::path& adapter_dir,
                    std::unique_ptr<LlamaWeights> model);

}  // namespace slm::cli
