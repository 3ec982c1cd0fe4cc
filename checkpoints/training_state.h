// training_state.h — the HDF5 file that lets a run resume exactly: adapter weights, AdamW
// moments, the step, the data loader's cursor, the dropout counter, the resolved recipe, the
// identity of the prepared data and the program version, with a checksum over all of it.
//
// Schema (format_version 1), file <checkpoint>/training_state.h5:
//   datasets  adapters [count] f32, adam_m [count] f32, adam_v [count] f32
//             (count = LoraAdapters::count(); layout [A | magnitudes | B], adapters.h)
//   attributes format_version, step, total_steps, data_epoch, data_step, micro_batches, tokens,
//             elapsed_ns, eval_loss_before (text, "" when none), adapter_layout, data_key,
//             recipe, program_version, checksum (FNV-1a/64 over every value above, 16 hex digits)
// The learning-rate schedule needs no state: it is a function of the step (optimizer.h). Dropout
// masks are a hash of (seed, micro-batch counter, ...), so the counter is their whole RNG state;
// the loader's shuffle is a function of (seed, epoch), so the cursor is its whole state.
// Does not hold: the checkpoint directories and their rotation (checkpoints/run_checkpoints.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "train/lora/adapters.h"

namespace slm {

inline constexpr std::int64_t k_training_state_version = 1;

struct TrainingProgress {
  std::int64_t step = 0;         // optimizer steps done
  std::int64_t total_steps = 0;  // of the run
  std::int64_t data_epoch = 0;   // the loader's cursor (data/loader.h LoaderCursor)
  std::int64_t data_step = 0;
  std::int64_t micro_batches = 0;  // training micro-batches run (the dropout masks' counter)
  std::int64_t tokens = 0;         // positions processed so far (speed report)
  double elapsed_seconds = 0;      // training time so far (speed report)
  std::optional<double> eval_loss_before;  // held-out loss before training, when measured
  std::string data_key;                    // the prepared data's cache key (data/prepare.h)
  std::string recipe;                      // the resolved recipe, YAML
  std::string program_version;             // slmtune's version that wrote it
};

// One line naming the adapters' shape: rank, alpha, rsLoRA, DoRA and every module's (layer,
// module, in, out). Two adapters with equal layouts can exchange weights and optimizer state.
std::string adapter_layout(const LoraAdapters& adapters);

// Writes `file` atomically (temporary name, fsync, rename, directory fsync). m and v hold
// adapters.count() floats each.
void save_training_state(const std::filesystem::path& file, const LoraAdapters& adapters, const float* m,
                         const float* v, const TrainingProgress& progress);

// Reads and verifies `file` (format version, checksum, the adapters' layout) into `adapters`, m
// and v; throws slm::Error naming the file and what is wrong, leaving the outputs untouched.
TrainingProgress load_training_state(const std::filesystem::path& file, LoraAdapters& adapters, float* m, float* v);

// Verifies a file completely (the checksum covers the arrays) without an adapter object; returns
// its progress. Throws like load_training_state.
TrainingProgress verify_training_state(const std::filesystem::path& file);

// True when `file` is an HDF5 file with the training state's attributes (for `inspect`).
bool is_training_state(const std::filesystem::path& file);

// A summary for `slmtune inspect`: verified or not, step, cursor, sizes, version, recipe.
std::string describe_training_state(const std::filesystem::path& file);

}  // namespace slm
