// command_train.cpp — `slmtune train RECIPE`: resolve the recipe, load the model, prepare (or
// reuse) the data, train the adapters, and report.
#include <cmath>
#include <iostream>

#include "tools/slmtune/commands.h"
#include "tools/slmtune/run_inputs.h"
#include "train/core/error.h"
#include "train/lora/merge.h"
#include "train/trainer.h"

namespace slm::cli {

int run_train(const ParsedArgs& args) {
  if (args.has("--print-reference")) {
    std::cout << render_reference_recipe();
    return 0;
  }
  LoadedRecipe loaded = resolve_recipe_args(args);
  const Recipe& r = loaded.recipe;
  if (args.has("--print-config")) {
    std::cout << render_recipe(r, false);
    return 0;
  }
  if (r.train.device != Device::Cpu)
    SLM_FAIL(loaded.origins.where("train.device"), ": train.device: cuda needs the CUDA backend (issue 8); use cpu");
  const std::filesystem::path run_dir = record_resolved_recipe(loaded);
  RunInputs inputs = load_run_inputs(r, run_dir);
  const LlamaWeights& model = *inputs.model;
  const PreparedData& data = inputs.data;

  LoaderOptions options;
  options.micro_batch_size = r.train.micro_batch_size;
  options.seed = static_cast<std::uint64_t>(r.train.seed);
  options.shuffle = r.data.shuffle;
  DataLoader loader(data.train.shards, options);
  const std::int64_t steps_per_epoch = loader.steps_per_epoch() / r.train.gradient_accumulation_steps;
  SLM_CHECK(steps_per_epoch > 0, loaded.origins.where("data.train"), ": data.train gives ", loader.num_rows(),
            " rows, which make no optimizer step of ",
            r.train.micro_batch_size * r.train.gradient_accumulation_steps,
            " rows; lower train.micro_batch_size or train.gradient_accumulation_steps, or add data");
  TrainerData td;
  td.total_steps = r.train.max_steps > 0 ? r.train.max_steps : steps_per_epoch * r.train.epochs;
  td.seq_len = loader.seq_len();
  td.max_tokens = r.train.micro_batch_size * loader.seq_len();
  td.eval_batches = eval_batches(data, r);
  td.next_micro_batch = [&loader]() {
    MicroBatch rows;
    while (!loader.next(rows)) {
    }  // an epoch ended: the cursor moved to the next one
    return to_token_batch(rows);
  };
  LoraAdapters adapters(model.config, LoraSettings::from_recipe(r.lora));
  adapters.initialize(r.lora.init, static_cast<std::uint64_t>(r.train.seed));
  initialize_dora_magnitudes(model, adapters);
  std::cerr << "training " << adapters.count() << " adapter parameters (" << adapters.modules().size()
            << " modules, r=" << r.lora.rank << ") on " << model.num_parameters() / 1000000 << "M frozen, for "
            << td.total_steps << " steps of " << r.train.gradient_accumulation_steps << " x " << r.train.micro_batch_size
            << " rows of " << td.seq_len << " tokens\n";
  const TrainReport report = train_lora(model, adapters, r, run_dir, r.model.path, td);
  std::cout << "trained " << report.steps << " steps in " << report.seconds << " s: " << report.tokens_per_second
            << " tokens/s, " << report.model_gflops << " GFLOP/s = LoRA-MFU "
            << 100.0 * report.model_gflops / report.peak_gflops << "% of the measured fp32 peak ("
            << report.peak_gflops << " GFLOP/s, FMA loop on all threads)\n";
  if (report.eval_loss_before && report.eval_loss_after)
    std::cout << "held-out loss " << *report.eval_loss_before << " -> " << *report.eval_loss_after << " (perplexity "
              << std::exp(*report.eval_loss_before) << " -> " << std::exp(*report.eval_loss_after) << ")\n";
  std::cout << "adapter: " << (run_dir / "adapter").string() << "\n";
  return 0;
}

}  // namespace slm::cli
