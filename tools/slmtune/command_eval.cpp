// command_eval.cpp — `slmtune eval RECIPE [--adapter DIR]`: held-out loss and perplexity of the
// base model and of the base model with an adapter (the run's own by default), on the recipe's
// evaluation split.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "checkpoints/peft_adapter.h"
#include "tools/slmtune/commands.h"
#include "tools/slmtune/run_inputs.h"
#include "train/core/error.h"
#include "train/trainer.h"

namespace slm::cli {

int run_eval(const ParsedArgs& args) {
  LoadedRecipe loaded = resolve_recipe_args(args);
  const Recipe& r = loaded.recipe;
  const std::filesystem::path run_dir = run_directory(r);
  std::filesystem::path adapter_dir = args.get("--adapter");
  if (adapter_dir.empty() && std::filesystem::exists(run_dir / "adapter" / "adapter_config.json")) adapter_dir = run_dir / "adapter";
  RunInputs inputs = load_run_inputs(r, run_dir);
  const std::vector<TokenBatch> batches = eval_batches(inputs.data, r);
  if (batches.empty())
    SLM_FAIL(loaded.origins.file, ": the recipe has no evaluation data; set data.eval or data.eval_fraction");
  std::int64_t max_tokens = 0, targets = 0;
  for (const TokenBatch& b : batches) {
    max_tokens = std::max(max_tokens, b.size());
    targets += b.target_count();
  }
  std::printf("evaluation: %zu batches, %lld target tokens\n", batches.size(), static_cast<long long>(targets));
  LoraTrainStep base(*inputs.model, nullptr, max_tokens);
  const double base_loss = *evaluate_loss(base, batches);
  std::printf("base model         loss %.4f  perplexity %.2f\n", base_loss, std::exp(base_loss));
  if (adapter_dir.empty()) {
    std::printf("(no adapter: give --adapter DIR, or train first so %s exists)\n", (run_dir / "adapter").c_str());
    return 0;
  }
  LoraAdapters adapters(inputs.model->config, read_peft_config(adapter_dir));
  load_peft_weights(adapters, adapter_dir);
  LoraTrainStep with(*inputs.model, &adapters, max_tokens);
  const double loss = *evaluate_loss(with, batches);
  std::printf("base + adapter     loss %.4f  perplexity %.2f   (%s)\n", loss, std::exp(loss), adapter_dir.c_str());
  return 0;
}

}  // namespace slm::cli
