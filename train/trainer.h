// trainer.h — the LoRA training loop: accumulation windows with exact loss normalization,
// optimizer steps, progress line, metrics.jsonl, periodic evaluation and adapter saves, and the
// end-of-run speed report (tokens/s, LoRA-MFU).
//
// Loss normalization: every micro-batch's summed cross-entropy is scaled by 1 / (target tokens
// in the whole accumulation window), so a window of k micro-batches is exactly one batch of all
// their rows (not a mean of micro-batch means).
// Resume: train_lora continues from a training state exactly (see below).
// Does not hold: data preparation (data/), model loading (checkpoints/), choosing the checkpoint
// to resume from (the train command), signal handling (the command installs it).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "data/loader.h"
#include "train/lora/adapters.h"
#include "train/model/llama.h"
#include "train/model/llama_train.h"
#include "train/recipe/recipe.h"

namespace slm {

struct TrainerData {
  DataLoader* loader = nullptr;           // the training stream; the trainer moves it across epochs
  std::vector<TokenBatch> eval_batches;   // held-out data; may be empty
  std::int64_t total_steps = 0;           // optimizer steps of the whole run
  std::string data_key;                   // the prepared data's identity (checked on resume)
};

// Where the run lives and how it starts and stops.
struct TrainerRun {
  std::filesystem::path run_dir;
  std::string base_model_name;            // for the PEFT adapter_config.json
  std::string recipe_yaml;                // the resolved recipe, saved in every checkpoint
  std::optional<std::filesystem::path> resume_state;  // a training_state.h5 to continue from
  // Polled after every micro-batch: nonzero (a signal number) saves a checkpoint of the last
  // completed step and returns (SIGINT / SIGTERM). A window cut short is discarded, not saved.
  const std::atomic<int>* stop = nullptr;
  // Where the steps run (train.backend), built for this model; nullptr: the CPU.
  Backend* backend = nullptr;
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
  std::int64_t resumed_from = -1;   // the step the run continued from, -1 when it started fresh
  int stopped_by = 0;               // the signal that stopped it early, 0 when it ran to the end
  std::filesystem::path checkpoint;  // the last checkpoint written
};

// Mean cross-entropy per target token over `batches` (nullopt when they hold no target).
std::optional<double> evaluate_loss(LoraTrainStep& step, const std::vector<TokenBatch>& batches);

// Runs the training (from run.resume_state when given: adapters, AdamW moments, step, data
// cursor and dropout counter are restored, and metrics.jsonl loses its lines past that step, so
// the continuation is the uninterrupted run's, bit for bit, on the same thread count).
// Writes <run_dir>/metrics.jsonl, <run_dir>/checkpoint-<step>/ every output.save_every steps and
// at the end (checkpoints/run_checkpoints.h), and <run_dir>/adapter/ (PEFT format) at the end.
TrainReport train_lora(const LlamaWeights& model, LoraAdapters& adapters, const Recipe& recipe, TrainerData& data,
                       const TrainerRun& run);

}  // namespace slm
