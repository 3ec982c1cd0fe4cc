// command_recipe.cpp — resolving a recipe from the command line (shared by train and prepare),
// and the prepare command.
//
// Both resolve the recipe (file, then overrides), validate it, and write the resolved recipe
// into the run directory before any work, so every run records exactly what it ran with.
// prepare then tokenizes the data into cached HDF5 shards (data/prepare.h) and prints the stats.
#include <iostream>

#include "data/model_assets.h"
#include "data/prepare.h"
#include "tools/slmtune/commands.h"
#include "train/core/files.h"
#include "train/recipe/recipe.h"

namespace slm::cli {

LoadedRecipe resolve_recipe_args(const ParsedArgs& args) {
  if (args.positional.empty()) throw UsageError("a recipe path is needed: slmtune " + args.command->name + " RECIPE");
  std::vector<std::string> overrides(args.positional.begin() + 1, args.positional.end());
  for (const std::string& o : overrides)
    if (!is_override(o))
      throw UsageError("unexpected argument '" + o + "'; overrides have the form section.key=value");
  return load_recipe(args.positional[0], overrides);
}

std::filesystem::path run_directory(const Recipe& r) {
  return std::filesystem::path(r.output.dir) / r.output.name;
}

std::filesystem::path record_resolved_recipe(const LoadedRecipe& loaded) {
  std::filesystem::path dir = run_directory(loaded.recipe);
  std::string header = "# resolved by slmtune " SLM_VERSION " from " + loaded.origins.file + "\n";
  write_file_atomic(dir / "recipe.yaml", header + render_recipe(loaded.recipe, false));
  std::cout << "resolved recipe: " << (dir / "recipe.yaml").string() << "\n";
  return dir;
}

int run_prepare(const ParsedArgs& args) {
  LoadedRecipe loaded = resolve_recipe_args(args);
  if (args.has("--print-config")) {
    std::cout << render_recipe(loaded.recipe, false);
    return 0;
  }
  const std::filesystem::path run_dir = record_resolved_recipe(loaded);
  const Recipe& r = loaded.recipe;
  Tokenizer tokenizer = load_model_tokenizer(r.model.path, r.model.tokenizer);
  std::optional<ChatTemplateText> chat_template = load_model_chat_template(r.model.path, r.model.chat_template);
  PreparedData data = prepare_data(r, run_dir, tokenizer, chat_template);
  std::cout << format_prepare_report(data);
  return 0;
}

}  // namespace slm::cli
