// run_checkpoints.cpp — listing, writing (atomically, by directory rename) and rotating a run's
// checkpoint directories.
#include "checkpoints/run_checkpoints.h"

#include <unistd.h>  // getpid: unique temporary names

#include <algorithm>
#include <charconv>

#include "checkpoints/peft_adapter.h"
#include "train/core/error.h"
#include "train/core/files.h"

namespace slm {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view k_prefix = "checkpoint-";

// The step of "checkpoint-<step>" (digits only), or nullopt for any other name.
std::optional<std::int64_t> checkpoint_step(const std::string& name) {
  if (name.size() <= k_prefix.size() || name.compare(0, k_prefix.size(), k_prefix) != 0) return std::nullopt;
  std::int64_t step = 0;
  const char* first = name.data() + k_prefix.size();
  const char* last = name.data() + name.size();
  const auto [ptr, ec] = std::from_chars(first, last, step);
  if (ec != std::errc() || ptr != last) return std::nullopt;
  return step;
}

bool is_leftover(const std::string& name) {
  return name.compare(0, k_prefix.size(), k_prefix) == 0 &&
         (name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos);
}

void remove_tree(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) SLM_FAIL(dir.string(), ": cannot remove: ", ec.message());
}

}  // namespace

std::vector<CheckpointDir> list_checkpoints(const fs::path& run_dir) {
  std::vector<CheckpointDir> out;
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return out;
  for (const fs::directory_entry& e : fs::directory_iterator(run_dir)) {
    if (!e.is_directory()) continue;
    if (auto step = checkpoint_step(e.path().filename().string())) out.push_back({e.path(), *step});
  }
  std::sort(out.begin(), out.end(), [](const CheckpointDir& a, const CheckpointDir& b) { return a.step < b.step; });
  return out;
}

fs::path save_checkpoint(const fs::path& run_dir, const LoraAdapters& adapters, const float* m, const float* v,
                         const TrainingProgress& progress, const std::string& base_model_name, std::int64_t keep_last) {
  const std::string name = std::string(k_prefix) + std::to_string(progress.step);
  const std::string pid = std::to_string(::getpid());
  const fs::path final_dir = run_dir / name;
  const fs::path tmp = run_dir / (name + ".tmp-" + pid);
  remove_tree(tmp);
  fs::create_directories(tmp);
  save_training_state(tmp / k_state_file_name, adapters, m, v, progress);
  save_peft_adapter(adapters, tmp / "adapter", base_model_name);
  sync_directory(tmp / "adapter");
  sync_directory(tmp);
  if (fs::exists(final_dir)) {  // the same step saved before (a resumed run, a stop right after a save)
    const fs::path old = run_dir / (name + ".old-" + pid);
    remove_tree(old);
    fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    sync_directory(run_dir);
    remove_tree(old);
  } else {
    fs::rename(tmp, final_dir);
    sync_directory(run_dir);
  }
  // Rotation: the newest keep_last stay; leftovers of saves that died are garbage.
  // A directory is renamed out of the checkpoint-<step> namespace before it is deleted, so a
  // process killed while deleting never leaves a half-deleted checkpoint-<step> behind.
  std::vector<CheckpointDir> all = list_checkpoints(run_dir);
  if (keep_last > 0 && static_cast<std::int64_t>(all.size()) > keep_last)
    for (std::size_t i = 0; i + static_cast<std::size_t>(keep_last) < all.size(); ++i)
      fs::rename(all[i].path, run_dir / (all[i].path.filename().string() + ".old-" + pid));
  for (const fs::directory_entry& e : fs::directory_iterator(run_dir))
    if (e.is_directory() && is_leftover(e.path().filename().string())) remove_tree(e.path());
  sync_directory(run_dir);
  return final_dir;
}

std::optional<CheckpointDir> newest_valid_checkpoint(const fs::path& run_dir,
                                                     const std::function<void(const std::string&)>& warn) {
  std::vector<CheckpointDir> all = list_checkpoints(run_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      verify_training_state(it->path / k_state_file_name);
      return *it;
    } catch (const Error& e) {
      warn(std::string("skipping ") + it->path.string() + ": " + e.what());
    }
  }
  return std::nullopt;
}

fs::path training_state_file(const fs::path& checkpoint_or_file) {
  std::error_code ec;
  return fs::is_directory(checkpoint_or_file, ec) ? checkpoint_or_file / k_state_file_name : checkpoint_or_file;
}

}  // namespace slm
