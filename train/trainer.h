// trainer.h — the LoRA training loop: accumulation windows with exact loss normalization,
// optimizer steps, progress line, metrics.jsonl, periodic evaluation and adapter saves, and the
// end-of-run speed report (tokens/s, LoRA-MFU).
//
// Loss normalization: every micro-batch's summed cross-entropy is scaled by 1 / (target tokens
// in the whole accumulation window), so a window of k micro-batches is exactly one batch of all
// their rows (not a mean of micro-batch means).
// Does not hold: data preparation (data/), model loading (checkpoints/).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "train/lora/adapters.h"
#include "train/model/llama.h"
#include "train/model/llama_train.h"
#include "train/recipe/recipe.h"

namespace slm {

struct TrainerData {
  std::function<TokenBatch()> next_micro_batch;  // the training stream (it handles epochs)
  std::vector<TokenBatch> eval_batches;           // held-out data; may be empty
  std::int64_t total_steps = 0;                   // optimizer steps to run
  std::int64_t max_tokens = 0;                    // largest micro-batch, in tokens
  std::int64_t seq_len = 0;                       // row length (for the FLOP count)
};

struct TrainReport {
  std::int64_t steps = 0;
  std::int64_t tokens = 0;  // every position processed, targets or not
  double seconds = 0;
  double tokens_per_second = 0;
  double model_gflops = 0;  // achieved, by the 4N + 12 L H E T per token count
  double peak_gflops = 0;   // measured fp32 FMA peak of this machine (all threads)
  double last_loss = 0;
  std::optional<double> eval_loss_before, eval_loss_after;
};

// Mean cross-entropy per target token over `batches` (nullopt when they hold no target).
std::optional<double> evaluate_loss(LoraTrainStep& step, const std::vector<TokenBatch>& batches);

// Runs the whole training; writes <run_dir>/metrics.jsonl and <run_dir>/adapter/ (PEFT format),
// and <run_dir>/checkpoint-<step>/adapter every output.save_every steps.
TrainReport train_lora(const LlamaWeights& model, LoraAdapters& adapters, const Recipe& recipe,
                       const std::filesystem::path& run_dir, const std::string& base_model_name, TrainerData& data);

}  // namespace slm
