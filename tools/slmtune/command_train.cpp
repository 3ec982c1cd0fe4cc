// command_train.cpp — `slmtune train RECIPE`: resolve the recipe, load the model, prepare (or
// reuse) the data, pick the checkpoint to resume from, train the adapters with SIGINT / SIGTERM
// turned into "save and stop", run the recipe's exports, and report.
//
// Resume policy: by default the newest checkpoint of the run directory whose training state
// verifies (a damaged newer one is skipped with a warning); --resume PATH names one; --no-resume
// starts over after moving the run's earlier results into <run>/previous-<time>/ (nothing is
// deleted). One process per run directory: <run>/.lock is held (flock) while training.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstring>
#include <ctime>
#include <iostream>

#include "checkpoints/run_checkpoints.h"
#include "tools/slmtune/commands.h"
#include "tools/slmtune/run_inputs.h"
#include "train/core/error.h"
#include "train/lora/merge.h"
#include "train/trainer.h"
#if defined(SLM_HAVE_CUDA)
#include "checkpoints/quantized_matrices.h"
#include "train/backend/cuda_backend.h"
#endif

namespace slm::cli {
namespace {
namespace fs = std::filesystem;

// The one mutable global: a signal handler can only reach static storage. Nonzero = the signal
// that asked training to save and stop.
std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

// SIGINT and SIGTERM set the flag once; SA_RESETHAND restores the default action, so a second
// Ctrl-C kills at once (the checkpoints stay valid: they are renamed into place complete).
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// Holds <run>/.lock for the life of the process (released by the kernel however it ends).
class RunLock {
 public:
  explicit RunLock(const fs::path& run_dir) {
    const fs::path path = run_dir / ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) SLM_FAIL(path.string(), ": cannot open the run's lock file: ", std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0)
      SLM_FAIL(run_dir.string(), ": another `slmtune train` is using this run directory; wait for it, or give "
               "this run another output.name");
  }
  ~RunLock() { ::close(fd_); }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// --no-resume: the run's earlier checkpoints, adapter and metrics go to <run>/previous-<time>/.
void set_aside_previous_results(const fs::path& run_dir) {
  std::vector<fs::path> items;
  for (const CheckpointDir& c : list_checkpoints(run_dir)) items.push_back(c.path);
  for (const char* name : {"adapter", "metrics.jsonl"})
    if (fs::exists(run_dir / name)) items.push_back(run_dir / name);
  if (items.empty()) return;
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  const fs::path aside = run_dir / (std::string("previous-") + stamp);
  fs::create_directories(aside);
  for (const fs::path& p : items) fs::rename(p, aside / p.filename());
  std::cerr << "--no-resume: moved the run's earlier results to " << aside.string() << "\n";
}

// The training state to continue from, or nullopt to start fresh.
// Fails early, before anything is loaded, when train.backend names a backend this machine lacks.
void check_backend_available(const LoadedRecipe& loaded) {
  if (loaded.recipe.train.backend == BackendKind::Cpu) return;
#if defined(SLM_HAVE_CUDA)
  if (visible_cuda_devices() == 0)
    SLM_FAIL(loaded.origins.where("train.backend"), ": train.backend: cuda, but no CUDA device is visible (check "
             "nvidia-smi and CUDA_VISIBLE_DEVICES), or set train.backend: cpu");
#else
  SLM_FAIL(loaded.origins.where("train.backend"), ": train.backend: cuda, but this slmtune was built without CUDA "
           "(nvcc was not found at configure time); set train.backend: cpu or rebuild with the CUDA toolkit");
#endif
}

// The recipe's backend for this model; nullptr for the CPU (the trainer's default).
std::unique_ptr<Backend> make_backend(const LoadedRecipe& loaded, const LlamaWeights& model) {
  if (loaded.recipe.train.backend == BackendKind::Cpu) return nullptr;
#if defined(SLM_HAVE_CUDA)
  try {
    // The GGUF's quantized layer matrices stay quantized on the device (dequantized per product).
    const std::map<std::string, QuantizedMatrix> quantized =
        load_quantized_matrices(loaded.recipe.model.path, model.config);
    CudaBackendOptions options;
    for (const auto& [name, m] : quantized)
      options.quantized[name] = {static_cast<std::uint32_t>(m.type), m.blocks.data(), m.blocks.size()};
    return make_cuda_backend(model, options);
  } catch (const Error& e) {
    SLM_FAIL(loaded.origins.where("train.backend"), ": ", e.what());
  }
#else
  check_backend_available(loaded);
  return nullptr;
#endif
}

std::optional<fs::path> choose_resume(const ParsedArgs& args, const fs::path& run_dir) {
  if (args.has("--resume") && args.has("--no-resume")) throw UsageError("--resume and --no-resume exclude each other");
  if (args.has("--no-resume")) {
    set_aside_previous_results(run_dir);
    return std::nullopt;
  }
  if (args.has("--resume")) {
    const fs::path state = training_state_file(args.get("--resume"));
    const TrainingProgress p = verify_training_state(state);
    std::cerr << "resuming from " << state.string() << " (step " << p.step << ")\n";
    return state;
  }
  const auto newest = newest_valid_checkpoint(run_dir, [](const std::string& m) { std::cerr << "warning: " << m << "\n"; });
  if (!newest) {
    if (!list_checkpoints(run_dir).empty())
      SLM_FAIL(run_dir.string(), ": no checkpoint of this run verifies (see the warnings); start over with --no-resume");
    return std::nullopt;
  }
  std::cerr << "resuming from " << newest->path.string() << " (step " << newest->step << ")\n";
  return newest->path / k_state_file_name;
}

void print_report(const TrainReport& report, const fs::path& run_dir) {
  if (report.stopped_by) {
    std::cout << "stopped by " << (report.stopped_by == SIGINT ? "SIGINT" : "SIGTERM") << " after step " << report.steps;
    if (report.checkpoint.empty())
      std::cout << "; no step completed in this run, nothing new to save\n";
    else
      std::cout << "; checkpoint: " << report.checkpoint.string() << "\nrun the same command again to resume\n";
    return;
  }
  if (report.resumed_from >= report.steps) {
    std::cout << "the run is complete at step " << report.steps << " (" << report.checkpoint.string()
              << "); nothing to train. --no-resume trains it again\nadapter: " << (run_dir / "adapter").string() << "\n";
    return;
  }
  std::cout << "trained " << report.steps - std::max<std::int64_t>(report.resumed_from, 0) << " steps in "
            << report.seconds << " s: " << report.tokens_per_second << " tokens/s, " << report.model_gflops
            << " GFLOP/s = LoRA-MFU " << 100.0 * report.model_gflops / report.peak_gflops
            << "% of the measured fp32 peak (" << report.peak_gflops << " GFLOP/s, FMA loop on all threads)\n";
  if (report.eval_loss_before && report.eval_loss_after)
    std::cout << "held-out loss " << *report.eval_loss_before << " -> " << *report.eval_loss_after << " (perplexity "
              << std::exp(*report.eval_loss_before) << " -> " << std::exp(*report.eval_loss_after) << ")\n";
  std::cout << "adapter: " << (run_dir / "adapter").string() << "\ncheckpoint: " << report.checkpoint.string() << "\n";
}

// The recipe's output.export list, into <run>/export/<format>/ (the run's adapter/ directory is
// its PEFT export). `model` is the base the run trained on; merged formats fold the adapter into it.
void run_recipe_exports(const Recipe& r, const fs::path& run_dir, std::unique_ptr<LlamaWeights> model) {
  std::vector<ExportSettings> jobs;
  for (ExportKind f : r.output.exports) {
    if (f == ExportKind::Peft) continue;
    ExportSettings job;
    job.format = f;
    job.out_dir = run_dir / "export" / std::string(enum_name(f));
    job.force = true;  // the run's own export directory, rewritten by every run
    job.dtype = f == ExportKind::Merged ? std::string(enum_name(r.output.merged_dtype)) : "";
    job.base_model = r.model.path;
    job.tokenizer_json = r.model.tokenizer;
    job.chat_template = r.model.chat_template;
    job.base_model_name = r.model.path;
    jobs.push_back(job);
  }
  export_formats(jobs, run_dir / "adapter", std::move(model));
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
  if (args.has("--plan")) return print_train_plan(r, args);
  check_backend_available(loaded);
  StopSignals signals;  // from here on, SIGINT / SIGTERM mean "save and stop" (checked once training runs)
  const fs::path run_dir = record_resolved_recipe(loaded);
  RunLock lock(run_dir);
  const std::optional<fs::path> resume = choose_resume(args, run_dir);
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
  td.loader = &loader;
  td.total_steps = r.train.max_steps > 0 ? r.train.max_steps : steps_per_epoch * r.train.epochs;
  td.eval_batches = eval_batches(data, r);
  td.data_key = data.key;
  LoraAdapters adapters(model.config, LoraSettings::from_recipe(r.lora));
  adapters.initialize(r.lora.init, static_cast<std::uint64_t>(r.train.seed));
  initialize_dora_magnitudes(model, adapters);
  std::cerr << "training " << adapters.count() << " adapter parameters (" << adapters.modules().size()
            << " modules, r=" << r.lora.rank << ") on " << model.num_parameters() / 1000000 << "M frozen, for "
            << td.total_steps << " steps of " << r.train.gradient_accumulation_steps << " x " << r.train.micro_batch_size
            << " rows of " << loader.seq_len() << " tokens\n";
  TrainerRun run;
  run.run_dir = run_dir;
  run.base_model_name = r.model.path;
  run.recipe_yaml = render_recipe(r, false);
  run.resume_state = resume;
  run.stop = &g_stop_signal;
  const std::unique_ptr<Backend> backend = make_backend(loaded, model);
  run.backend = backend.get();
  const TrainReport report = train_lora(model, adapters, r, td, run);
  print_report(report, run_dir);
  if (report.stopped_by) return 128 + report.stopped_by;
  run_recipe_exports(r, run_dir, std::move(inputs.model));
  return 0;
}

}  // namespace slm::cli
