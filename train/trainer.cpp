// trainer.cpp — the training loop, its progress line and metrics, and the speed report.
#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "checkpoints/peft_adapter.h"
#include "checkpoints/run_checkpoints.h"
#include "train/core/files.h"
#include "kernels/cpu/peak.h"
#include "train/core/error.h"
#include "train/optim/optimizer.h"

namespace slm {
namespace {

using Clock = std::chrono::steady_clock;

std::string duration_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  std::ostringstream os;
  if (s >= 3600) os << s / 3600 << "h";
  if (s >= 60) os << (s / 60) % 60 << "m";
  os << s % 60 << "s";
  return os.str();
}

class MetricsLog {
 public:
  explicit MetricsLog(const std::filesystem::path& path) : path_(path), out_(path, std::ios::app) {
    if (!out_) SLM_FAIL(path.string(), ": cannot open for writing; check the run directory's permissions and free space");
  }
  void write(const std::string& json_line) {
    out_ << json_line << '\n' << std::flush;
    if (!out_) SLM_FAIL(path_.string(), ": write failed (disk full?); the last saved adapter is intact");
  }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

double flops_per_token(const LlamaWeights& model, std::int64_t seq_len) {
  const ModelConfig& c = model.config;
  return 4.0 * static_cast<double>(model.num_parameters()) +
         12.0 * static_cast<double>(c.num_layers * c.num_heads * c.head_dim * seq_len);
}

}  // namespace

std::optional<double> evaluate_loss(LoraTrainStep& step, const std::vector<TokenBatch>& batches) {
  double sum = 0;
  std::int64_t targets = 0;
  for (const TokenBatch& b : batches) {
    sum += step.loss(b);
    targets += b.target_count();
  }
  if (targets == 0) return std::nullopt;
  return sum / static_cast<double>(targets);
}

namespace {

// Keeps the lines of metrics.jsonl whose "step" is at most `step` (a resumed run rewrites what
// came after its checkpoint; -1 empties it). Lines are written by MetricsLog, so "step" is their
// first key.
void truncate_metrics(const std::filesystem::path& path, std::int64_t step) {
  if (!std::filesystem::exists(path)) return;
  std::istringstream in(read_file(path, "metrics.jsonl"));
  std::string kept, line;
  const std::string key = "{\"step\": ";
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;  // a torn last line of a killed run
    if (std::stoll(line.substr(key.size())) <= step && line.back() == '}') kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

// One run of the loop: the step, the optimizer, the data, and the state a checkpoint captures.
class Loop {
 public:
  Loop(const LlamaWeights& model, LoraAdapters& adapters, const Recipe& recipe, TrainerData& data, const TrainerRun& run)
      : model_(model), adapters_(adapters), recipe_(recipe), t_(recipe.train), data_(data), run_(run),
        step_(model, &adapters, t_.micro_batch_size * data.loader->seq_len(), t_.activation_checkpointing,
              run.backend),
        optimizer_(adapters, OptimizerSettings::from_recipe(t_, data.total_steps), &step_.backend()) {
    step_.set_dropout_seed(static_cast<std::uint64_t>(t_.seed));
    progress_.total_steps = data.total_steps;
    progress_.data_key = data.data_key;
    progress_.recipe = run.recipe_yaml;
    progress_.program_version = SLM_VERSION;
    window_.resize(static_cast<std::size_t>(t_.gradient_accumulation_steps));
  }

  TrainReport run() {
    const std::filesystem::path metrics_path = run_.run_dir / "metrics.jsonl";
    if (run_.resume_state) resume(*run_.resume_state);
    // Lines past the starting step come from a run killed before it saved them: they are redone.
    truncate_metrics(metrics_path, run_.resume_state ? report_.resumed_from : -1);
    metrics_.emplace(metrics_path);
    if (!run_.resume_state) report_.eval_loss_before = evaluate(0);
    mark_step_start();
    const auto start = Clock::now();
    for (std::int64_t s = optimizer_.steps_done(); s < data_.total_steps; ++s) {
      mark_step_start();
      if (!train_window(s)) break;  // stopped by a signal inside the window
      log_step(s, start);
      if (recipe_.eval.every > 0 && (s + 1) % recipe_.eval.every == 0 && s + 1 < data_.total_steps) evaluate(s + 1);
      mark_step_start();  // the state after step s + 1 is what a checkpoint of it captures
      const bool stop = stop_signal() != 0;
      if (stop || (recipe_.output.save_every > 0 && (s + 1) % recipe_.output.save_every == 0 && s + 1 < data_.total_steps))
        save(Clock::now() - start);
      if (stop) break;
    }
    report_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    report_.stopped_by = stop_signal();
    if (tty_) std::fprintf(stderr, "\n");
    if (report_.stopped_by) {  // save what this process added (nothing when no step completed)
      if (saved_step_ != optimizer_.steps_done() && optimizer_.steps_done() > 0) save(Clock::now() - start);
      return report_;
    }
    if (report_.resumed_from >= data_.total_steps) {  // the run was complete: nothing to redo
      report_.checkpoint = run_.resume_state->parent_path();
      return report_;
    }
    save(Clock::now() - start);
    save_peft_adapter(adapters_, run_.run_dir / "adapter", run_.base_model_name);
    report_.eval_loss_after = evaluate(optimizer_.steps_done());
    report_.tokens_per_second = static_cast<double>(report_.tokens - tokens_before_) / std::max(report_.seconds, 1e-9);
    report_.model_gflops = report_.tokens_per_second * flops_per_token(model_, data_.loader->seq_len()) / 1e9;
    report_.peak_gflops = cpu::measure_fp32_peak_gflops();
    return report_;
  }

 private:
  using Duration = Clock::duration;

  int stop_signal() const { return run_.stop ? run_.stop->load() : 0; }

  void resume(const std::filesystem::path& state) {
    const TrainingProgress p = load_training_state(state, adapters_, optimizer_.moment1(), optimizer_.moment2());
    step_.backend().push_mirrors();  // the restored adapters and moments, to where the steps run
    if (p.data_key != data_.data_key)
      SLM_FAIL(state.string(), ": the checkpoint was trained on other prepared data (key ", p.data_key, ", now ",
               data_.data_key, "); resume with the data and data settings it was trained with, or start over with "
               "--no-resume");
    if (p.total_steps != data_.total_steps)
      std::fprintf(stderr, "warning: %s: the checkpoint's run had %lld steps, this one has %lld: the learning-rate "
                   "schedule changes, so the result differs from an uninterrupted run\n", state.string().c_str(),
                   static_cast<long long>(p.total_steps), static_cast<long long>(data_.total_steps));
    optimizer_.set_steps_done(p.step);
    step_.set_micro_batches(p.micro_batches);
    data_.loader->set_cursor({p.data_epoch, p.data_step});
    report_.tokens = tokens_before_ = p.tokens;
    elapsed_before_ = p.elapsed_seconds;
    report_.eval_loss_before = p.eval_loss_before;
    report_.resumed_from = report_.steps = p.step;
    saved_step_ = p.step;
  }

  // The state at the start of the step about to run (a stop inside its window saves this).
  void mark_step_start() {
    const LoaderCursor c = data_.loader->cursor();
    progress_.step = optimizer_.steps_done();
    progress_.data_epoch = c.epoch;
    progress_.data_step = c.step;
    progress_.micro_batches = step_.micro_batches();
    progress_.tokens = report_.tokens;
    progress_.eval_loss_before = report_.eval_loss_before;
  }

  // Forward/backward over one accumulation window and the optimizer step. Returns false when a
  // stop signal arrived inside the window (the window's gradients are discarded).
  bool train_window(std::int64_t s) {
    std::int64_t targets = 0;
    for (TokenBatch& b : window_) {
      while (!data_.loader->next(rows_)) {
      }  // an epoch ended: the cursor moved to the next one
      to_token_batch(rows_, b);
      targets += b.target_count();
    }
    double loss_sum = 0;
    if (targets > 0)
      for (const TokenBatch& b : window_) {
        if (stop_signal()) {
          optimizer_.discard_gradients();
          report_.tokens = progress_.tokens;
          return false;
        }
        loss_sum += step_.forward_backward(b, static_cast<float>(1.0 / static_cast<double>(targets)));
        report_.tokens += b.size();
      }
    last_targets_ = targets;
    const double loss = targets > 0 ? loss_sum / static_cast<double>(targets) : 0.0;
    if (!std::isfinite(loss))
      SLM_FAIL("step ", s + 1, ": the loss is ", loss, "; training diverged. Lower train.learning_rate; the last "
               "saved checkpoint in ", run_.run_dir.string(), " is intact");
    last_ = optimizer_.step();
    report_.steps = s + 1;
    report_.last_loss = loss;
    return true;
  }

  void log_step(std::int64_t s, Clock::time_point start) {
    if ((s + 1) % t_.log_every != 0 && s + 1 != data_.total_steps) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double tps = static_cast<double>(report_.tokens - tokens_before_) / std::max(elapsed, 1e-9);
    const double eta = elapsed / static_cast<double>(s + 1 - std::max<std::int64_t>(report_.resumed_from, 0)) *
                       static_cast<double>(data_.total_steps - s - 1);
    std::fprintf(stderr, "%sstep %lld/%lld | loss %.4f | lr %.3e | grad norm %.3f | %.0f tok/s | ETA %s%s",
                 tty_ ? "\r" : "", static_cast<long long>(s + 1), static_cast<long long>(data_.total_steps),
                 report_.last_loss, last_.learning_rate, last_.grad_norm, tps, duration_text(eta).c_str(),
                 tty_ ? "   " : "\n");
    std::ostringstream line;
    line.precision(8);
    line << "{\"step\": " << s + 1 << ", \"loss\": " << report_.last_loss << ", \"learning_rate\": "
         << last_.learning_rate << ", \"grad_norm\": " << last_.grad_norm << ", \"target_tokens\": " << last_targets_
         << ", \"tokens\": " << report_.tokens << ", \"tokens_per_second\": " << tps
         << ", \"elapsed_seconds\": " << elapsed_before_ + elapsed << "}";
    metrics_->write(line.str());
  }

  std::optional<double> evaluate(std::int64_t at_step) {
    auto loss = evaluate_loss(step_, data_.eval_batches);
    if (!loss) return loss;
    std::fprintf(stderr, "%seval  step %lld | loss %.4f | perplexity %.2f\n", tty_ ? "\n" : "",
                 static_cast<long long>(at_step), *loss, std::exp(*loss));
    metrics_->write("{\"step\": " + std::to_string(at_step) + ", \"eval_loss\": " + std::to_string(*loss) +
                    ", \"eval_perplexity\": " + std::to_string(std::exp(*loss)) + "}");
    return loss;
  }

  // A checkpoint of the state recorded by the last mark_step_start().
  void save(Duration since_start) {
    progress_.elapsed_seconds = elapsed_before_ + std::chrono::duration<double>(since_start).count();
    step_.backend().pull_mirrors();  // adapters and moments from where the steps run
    report_.checkpoint = save_checkpoint(run_.run_dir, adapters_, optimizer_.moment1(), optimizer_.moment2(), progress_,
                                         run_.base_model_name, recipe_.output.keep_last);
    saved_step_ = progress_.step;
  }

  const LlamaWeights& model_;
  LoraAdapters& adapters_;
  const Recipe& recipe_;
  const TrainSection& t_;
  TrainerData& data_;
  const TrainerRun& run_;
  LoraTrainStep step_;
  AdamWOptimizer optimizer_;
  std::optional<MetricsLog> metrics_;
  const bool tty_ = ::isatty(STDERR_FILENO);
  TrainReport report_;
  TrainingProgress progress_;
  std::vector<TokenBatch> window_;  // reused every step: no allocation once sized
  MicroBatch rows_;
  StepReport last_;
  std::int64_t last_targets_ = 0, tokens_before_ = 0, saved_step_ = -1;
  double elapsed_before_ = 0;
};

}  // namespace

TrainReport train_lora(const LlamaWeights& model, LoraAdapters& adapters, const Recipe& recipe, TrainerData& data,
                       const TrainerRun& run) {
  SLM_CHECK(data.loader != nullptr, "train_lora: no data loader");
  return Loop(model, adapters, recipe, data, run).run();
}

}  // namespace slm
