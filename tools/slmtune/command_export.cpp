// command_export.cpp — `slmtune export RUN_OR_CHECKPOINT`: find the adapter (a run's newest valid
// checkpoint, a checkpoint directory, or a PEFT adapter directory), the base model it was trained
// on (the run's recipe.yaml, or --model), and write the formats asked for (checkpoints/export.h).
// Also the recipe's output.export list that `train` runs when training ends.
#include <iostream>

#include "checkpoints/export.h"
#include "checkpoints/model_loader.h"
#include "checkpoints/peft_adapter.h"
#include "checkpoints/run_checkpoints.h"
#include "tools/slmtune/commands.h"
#include "train/core/error.h"
#include "train/lora/merge.h"

namespace slm::cli {
namespace {
namespace fs = std::filesystem;

struct ExportSource {
  fs::path adapter_dir;  // holds adapter_config.json
  fs::path run_dir;      // "" when the adapter is not part of a run
};

bool has(const fs::path& dir, const char* name) {
  std::error_code ec;
  return fs::exists(dir / name, ec);
}

ExportSource resolve_source(const fs::path& path) {
  if (!fs::is_directory(path))
    SLM_FAIL(path.string(), ": not a directory; give a run directory (runs/<name>), one of its checkpoint-<step> "
             "directories, or a PEFT adapter directory");
  if (has(path, "adapter_config.json")) {  // <run>/adapter or <run>/checkpoint-<step>/adapter
    const fs::path parent = path.parent_path();
    if (has(parent, "recipe.yaml")) return {path, parent};
    if (has(parent, k_state_file_name) && has(parent.parent_path(), "recipe.yaml")) return {path, parent.parent_path()};
    return {path, {}};
  }
  if (has(path, k_state_file_name)) return {path / "adapter", path.parent_path()};
  if (has(path, "recipe.yaml")) {
    const auto newest = newest_valid_checkpoint(path, [](const std::string& m) { std::cerr << "warning: " << m << "\n"; });
    if (newest) {
      std::cerr << "exporting " << newest->path.string() << " (step " << newest->step << ")\n";
      return {newest->path / "adapter", path};
    }
    if (has(path / "adapter", "adapter_config.json")) return {path / "adapter", path};
    SLM_FAIL(path.string(), ": this run has no valid checkpoint and no adapter yet; train it first");
  }
  SLM_FAIL(path.string(), ": holds no adapter_config.json, training_state.h5 or recipe.yaml; give a run directory, "
           "a checkpoint directory or a PEFT adapter directory");
}

std::optional<ExportKind> parse_format(std::string text) {
  for (char& c : text)
    if (c == '-') c = '_';  // gguf-lora on the command line, gguf_lora in recipes
  return parse_enum<ExportKind>(text);
}

}  // namespace

void export_formats(const std::vector<ExportSettings>& jobs, const fs::path& adapter_dir,
                    std::unique_ptr<LlamaWeights> model) {
  if (jobs.empty()) return;
  const fs::path& base = jobs.front().base_model;
  const ModelConfig config = model ? model->config : load_model_config(base);
  LoraAdapters adapters(config, read_peft_config(adapter_dir));
  load_peft_weights(adapters, adapter_dir);
  bool merged = false;
  for (const ExportSettings& job : jobs) {
    if (export_needs_merged_weights(job.format) && !merged) {
      if (!model) model = load_llama_model(base);
      merge_lora(*model, adapters);
      merged = true;
    }
    std::cout << "export " << enum_name(job.format) << " -> " << job.out_dir.string() << "\n";
    for (const fs::path& f : run_export(job, adapters, config, merged ? model.get() : nullptr, std::cout))
      std::cout << "  wrote " << f.string() << "\n";
  }
}

int run_export(const ParsedArgs& args) {
  const ExportSource src = resolve_source(args.positional.at(0));
  std::optional<Recipe> recipe;
  if (!src.run_dir.empty()) recipe = load_recipe(src.run_dir / "recipe.yaml", {}).recipe;
  ExportSettings common;
  common.base_model = args.has("--model") ? fs::path(args.get("--model")) : recipe ? fs::path(recipe->model.path) : fs::path();
  if (common.base_model.empty())
    throw UsageError(src.adapter_dir.string() + " is not part of a run, so --model PATH (the base model) is needed");
  std::error_code ec;
  if (!fs::exists(common.base_model, ec))
    SLM_FAIL(common.base_model.string(), ": the base model ", args.has("--model") ? "given by --model" : "named by the run's recipe.yaml",
             " is not there (moved, or a path relative to another directory); give it with --model PATH");
  if (recipe) {
    common.tokenizer_json = recipe->model.tokenizer;
    common.chat_template = recipe->model.chat_template;
  }
  common.base_model_name = common.base_model.string();
  common.force = args.has("--force");
  common.dtype = args.get("--dtype");

  std::vector<ExportKind> formats;
  if (args.has("--format")) {
    const auto f = parse_format(args.get("--format"));
    if (!f) throw UsageError("--format " + args.get("--format") + ": choose peft, merged, gguf or gguf-lora");
    formats = {*f};
  } else if (recipe) {
    formats = recipe->output.exports;
  } else {
    throw UsageError("--format KIND is needed: the adapter is not part of a run whose recipe lists exports");
  }
  if (!args.has("--out") && src.run_dir.empty()) throw UsageError("--out DIR is needed");
  std::vector<ExportSettings> jobs;
  for (ExportKind f : formats) {
    ExportSettings job = common;
    job.format = f;
    const std::string name(enum_name(f));
    job.out_dir = !args.has("--out") ? src.run_dir / "export" / name
                  : formats.size() == 1 ? fs::path(args.get("--out")) : fs::path(args.get("--out")) / name;
    if (f == ExportKind::Merged && job.dtype.empty() && recipe) job.dtype = enum_name(recipe->output.merged_dtype);
    jobs.push_back(job);
  }
  export_formats(jobs, src.adapter_dir, nullptr);
  return 0;
}

}  // namespace slm::cli
