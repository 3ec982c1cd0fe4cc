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

TrainReport train_lora(const LlamaWeights& model, LoraAdapters& adapters, const Recipe& recipe,
                       const std::filesystem::path& run_dir, const std::string& base_model_name, TrainerData& data) {
  const TrainSection& t = recipe.train;
  LoraTrainStep step(model, &adapters, data.max_tokens, t.activation_checkpointing);
  step.set_dropout_seed(static_cast<std::uint64_t>(t.seed));
  AdamWOptimizer optimizer(adapters, OptimizerSettings::from_recipe(t, data.total_steps));
  MetricsLog metrics(run_dir / "metrics.jsonl");
  const bool tty = ::isatty(STDERR_FILENO);
  TrainReport report;

  auto evaluate = [&](std::int64_t at_step) -> std::optional<double> {
    auto loss = evaluate_loss(step, data.eval_batches);
    if (!loss) return loss;
    std::fprintf(stderr, "%seval  step %lld | loss %.4f | perplexity %.2f\n", tty ? "\n" : "", static_cast<long long>(at_step),
                 *loss, std::exp(*loss));
    metrics.write("{\"step\": " + std::to_string(at_step) + ", \"eval_loss\": " + std::to_string(*loss) +
                  ", \"eval_perplexity\": " + std::to_string(std::exp(*loss)) + "}");
    return loss;
  };
  report.eval_loss_before = evaluate(0);

  const auto start = Clock::now();
  for (std::int64_t s = 0; s < data.total_steps; ++s) {
    std::vector<TokenBatch> window;
    std::int64_t targets = 0;
    for (std::int64_t i = 0; i < t.gradient_accumulation_steps; ++i) {
      window.push_back(data.next_micro_batch());
      targets += window.back().target_count();
    }
    double loss_sum = 0;
    if (targets > 0)
      for (const TokenBatch& b : window) {
        loss_sum += step.forward_backward(b, static_cast<float>(1.0 / static_cast<double>(targets)));
        report.tokens += b.size();
      }
    const double loss = targets > 0 ? loss_sum / static_cast<double>(targets) : 0.0;
    if (!std::isfinite(loss))
      SLM_FAIL("step ", s + 1, ": the loss is ", loss, "; training diverged. Lower train.learning_rate; the last "
               "saved adapter in ", run_dir.string(), " is intact");
    const StepReport r = optimizer.step();
    report.steps = s + 1;
    report.last_loss = loss;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double tps = static_cast<double>(report.tokens) / std::max(elapsed, 1e-9);
    if ((s + 1) % t.log_every == 0 || s + 1 == data.total_steps) {
      const double eta = elapsed / static_cast<double>(s + 1) * static_cast<double>(data.total_steps - s - 1);
      std::fprintf(stderr, "%sstep %lld/%lld | loss %.4f | lr %.3e | grad norm %.3f | %.0f tok/s | ETA %s%s",
                   tty ? "\r" : "", static_cast<long long>(s + 1), static_cast<long long>(data.total_steps), loss,
                   r.learning_rate, r.grad_norm, tps, duration_text(eta).c_str(), tty ? "   " : "\n");
      std::ostringstream line;
      line.precision(8);
      line << "{\"step\": " << s + 1 << ", \"loss\": " << loss << ", \"learning_rate\": " << r.learning_rate
           << ", \"grad_norm\": " << r.grad_norm << ", \"target_tokens\": " << targets << ", \"tokens\": " << report.tokens
           << ", \"tokens_per_second\": " << tps << ", \"elapsed_seconds\": " << elapsed << "}";
      metrics.write(line.str());
    }
    if (recipe.eval.every > 0 && (s + 1) % recipe.eval.every == 0 && s + 1 < data.total_steps) evaluate(s + 1);
    if (recipe.output.save_every > 0 && (s + 1) % recipe.output.save_every == 0 && s + 1 < data.total_steps)
      save_peft_adapter(adapters, run_dir / ("checkpoint-" + std::to_string(s + 1)) / "adapter", base_model_name);
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (tty) std::fprintf(stderr, "\n");
  save_peft_adapter(adapters, run_dir / "adapter", base_model_name);
  report.eval_loss_after = evaluate(report.steps);
  report.tokens_per_second = static_cast<double>(report.tokens) / std::max(report.seconds, 1e-9);
  report.model_gflops = report.tokens_per_second * flops_per_token(model, data.seq_len) / 1e9;
  report.peak_gflops = cpu::measure_fp32_peak_gflops();
  return report;
}

}  // namespace slm
