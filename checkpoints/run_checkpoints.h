// run_checkpoints.h — the checkpoint directories of a run: <run>/checkpoint-<step>/ holding
// training_state.h5 (everything resume needs, training_state.h) and adapter/ (a PEFT adapter
// directory, what exports and serving read).
//
// A checkpoint is built under a temporary name (checkpoint-<step>.tmp-<pid>), synced, and renamed
// into place, so a directory named checkpoint-<step> is complete or absent whatever moment the
// process dies at; leftovers of interrupted saves are removed by the next save.
// Does not hold: the state file's schema (training_state.h), the training loop.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "checkpoints/training_state.h"

namespace slm {

inline constexpr const char* k_state_file_name = "training_state.h5";

struct CheckpointDir {
  std::filesystem::path path;
  std::int64_t step = 0;
};

// The run's checkpoint-<step> directories, oldest first (temporaries are not listed).
std::vector<CheckpointDir> list_checkpoints(const std::filesystem::path& run_dir);

// Writes <run>/checkpoint-<step>/ atomically (replacing one of the same step), then removes
// all but the newest keep_last checkpoints (0 keeps all) and leftovers of interrupted saves.
std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir, const LoraAdapters& adapters,
                                      const float* m, const float* v, const TrainingProgress& progress,
                                      const std::string& base_model_name, std::int64_t keep_last);

// The newest checkpoint whose training state verifies (checksum and all); `warn` receives a
// message for each newer one that does not. nullopt when there is none.
std::optional<CheckpointDir> newest_valid_checkpoint(const std::filesystem::path& run_dir,
                                                     const std::function<void(const std::string&)>& warn);

// The training state file of a checkpoint directory, or the path itself when it names the file.
std::filesystem::path training_state_file(const std::filesystem::path& checkpoint_or_file);

}  // namespace slm
