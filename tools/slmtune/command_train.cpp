// command_train.cpp — `slmtune train RECIPE`: resolve the recipe, load the model, prepare (or
// reuse) the data, train the adapters, and report.
#include <cmath>
#include <iostream>

#include "checkpoints/model_loader.h"
#include "data/loader.h"
#include "data/model_assets.h"
#include "data/prepare.h"
#include "tools/slmtune/commands.h"
#include "train/core/error.h"
#include "train/trainer.h"

namespace slm::cli {
namespace {

// The model's input from the loader's rows: position t predicts token t + 1 when that token is a
// target (mask) of the same document.
TokenBatch to_token_batch(const MicroBatch& rows) {
  TokenBatch b;
  const auto n = static_cast<std::int64_t>(rows.tokens.size());
  b.tokens = rows.tokens;
  b.positions = rows.position_ids;
  b.cu_seqlens = rows.cu_seqlens;
  b.targets.assign(static_cast<std::size_t>(n), -100);
  std::size_t doc = 1;
  for (std::int64_t t = 0; t + 1 < n; ++t) {
    while (doc < b.cu_seqlens.size() && b.cu_seqlens[doc] <= t) ++doc;
    const bool same_doc = doc >= b.cu_seqlens.size() || t + 1 < b.cu_seqlens[doc];
    if (same_doc && rows.mask[static_cast<std::size_t>(t + 1)]) b.targets[static_cast<std::size_t>(t)] = rows.tokens[static_cast<std::size_t>(t + 1)];
  }
  return b;
}

std::vector<TokenBatch> eval_batches(const PreparedData& data, const Recipe& r, std::int64_t seq_len) {
  std::vector<TokenBatch> out;
  if (!data.eval) return out;
  LoaderOptions o;
  o.micro_batch_size = r.train.micro_batch_size;
  o.shuffle = false;
  o.drop_last = false;
  DataLoader loader(data.eval->shards, o);
  SLM_CHECK(loader.seq_len() == seq_len, "internal: eval rows differ in length from training rows");
  MicroBatch rows;
  while (loader.next(rows) && (r.eval.max_batches == 0 || static_cast<std::int64_t>(out.size()) < r.eval.max_batches))
    if (rows.rows > 0) out.push_back(to_token_batch(rows));
  return out;
}

}  // namespace

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
  const std::filesystem::path model_path = r.model.path;
  auto model = load_llama_model(model_path);
  const Tokenizer tokenizer = load_model_tokenizer(model_path, r.model.tokenizer);
  const auto chat_template = load_model_chat_template(model_path, r.model.chat_template);
  const PreparedData data = prepare_data(r, run_dir, tokenizer, chat_template);
  std::cerr << format_prepare_report(data);

  LoaderOptions options;
  options.micro_batch_size = r.train.micro_batch_size;
  options.seed = static_cast<std::uint64_t>(r.train.seed);
  options.shuffle = r.data.shuffle;
  DataLoader loader(data.train.shards, options);
  const std::int64_t steps_per_epoch = loader.steps_per_epoch() / r.train.gradient_accumulation_steps;
  SLM_CHECK(steps_per_epoch > 0, r.data.train, ": ", loader.num_rows(), " rows make no optimizer step of ",
            r.train.micro_batch_size * r.train.gradient_accumulation_steps,
            " rows; lower train.micro_batch_size or train.gradient_accumulation_steps, or add data");
  TrainerData td;
  td.total_steps = r.train.max_steps > 0 ? r.train.max_steps : steps_per_epoch * r.train.epochs;
  td.seq_len = loader.seq_len();
  td.max_tokens = r.train.micro_batch_size * loader.seq_len();
  td.eval_batches = eval_batches(data, r, loader.seq_len());
  td.next_micro_batch = [&loader]() {
    MicroBatch rows;
    while (!loader.next(rows)) {
    }  // an epoch ended: the cursor moved to the next one
    return to_token_batch(rows);
  };
  LoraAdapters adapters(model->config, LoraSettings::from_recipe(r.lora));
  adapters.initialize(r.lora.init, static_cast<std::uint64_t>(r.train.seed));
  std::cerr << "training " << adapters.count() << " adapter parameters (" << adapters.modules().size()
            << " modules, r=" << r.lora.rank << ") on " << model->num_parameters() / 1000000 << "M frozen, for "
            << td.total_steps << " steps of " << r.train.gradient_accumulation_steps << " x " << r.train.micro_batch_size
            << " rows of " << td.seq_len << " tokens\n";
  const TrainReport report = train_lora(*model, adapters, r, run_dir, model_path.string(), td);
  std::cout << "trained " << report.steps << " steps in " << report.seconds << " s: " << report.tokens_per_second
            << " tokens/s, " << report.model_gflops << " GFLOP/s = LoRA-MFU "
            << 100.0 * report.model_gflops / report.peak_gflops << "% of the measured fp32 peak ("
            << report.peak_gflops << " GFLOP/s, sgemm)\n";
  if (report.eval_loss_before && report.eval_loss_after)
    std::cout << "held-out loss " << *report.eval_loss_before << " -> " << *report.eval_loss_after << " (perplexity "
              << std::exp(*report.eval_loss_before) << " -> " << std::exp(*report.eval_loss_after) << ")\n";
  std::cout << "adapter: " << (run_dir / "adapter").string() << "\n";
  return 0;
}

}  // namespace slm::cli
