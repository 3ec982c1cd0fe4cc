// bench_train_step.cpp — tokens/s of one LoRA training step (forward + backward + AdamW) on a
// real model, with random tokens: the C++ side of tools/bench_train.py, which runs PyTorch + PEFT
// on the same model and shapes and prints both side by side.
// Usage: bench_train_step MODEL ROWS SEQ_LEN RANK STEPS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "checkpoints/model_loader.h"
#include "train/model/llama_train.h"
#include "train/optim/optimizer.h"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_train_step MODEL ROWS SEQ_LEN RANK STEPS\n");
    return 2;
  }
  using namespace slm;
  const int rows = std::atoi(argv[2]), seq = std::atoi(argv[3]), rank = std::atoi(argv[4]), steps = std::atoi(argv[5]);
  auto model = load_llama_model(argv[1]);
  LoraSettings settings;
  settings.rank = rank;
  settings.alpha = 2.0 * rank;
  settings.targets.fill(true);
  LoraAdapters adapters(model->config, settings);
  adapters.initialize(LoraInit::Kaiming, 1);
  OptimizerSettings opt;
  opt.learning_rate = 1e-4;
  opt.total_steps = steps + 1;
  AdamWOptimizer optimizer(adapters, opt);
  LoraTrainStep step(*model, &adapters, static_cast<std::int64_t>(rows) * seq);
  std::mt19937 rng(1);
  TokenBatch batch;
  std::vector<std::int32_t> ids(static_cast<std::size_t>(seq));
  for (int r = 0; r < rows; ++r) {
    for (auto& id : ids) id = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(model->config.vocab_size));
    batch.add_segment(ids, ids);
  }
  const float scale = 1.0f / static_cast<float>(batch.target_count());
  step.forward_backward(batch, scale);  // warm-up
  optimizer.step();
  const auto start = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    step.forward_backward(batch, scale);
    optimizer.step();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("slmtune tokens/s %.1f\n", static_cast<double>(rows) * seq * steps / seconds);
  return 0;
}
