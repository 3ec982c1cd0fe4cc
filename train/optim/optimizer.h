// optimizer.h — AdamW over the adapter arena, with learning-rate schedules (transformers'
// constant/linear/cosine with warmup), global-norm clipping (torch.nn.utils.clip_grad_norm_),
// and LoRA+ (B matrices at learning_rate * loraplus_lr_ratio).
// Does not hold: the gradients' computation or the training loop.
#pragma once

#include <cstdint>

#include <memory>

#include "train/backend/backend.h"
#include "train/core/arena.h"
#include "train/lora/adapters.h"
#include "train/recipe/recipe.h"

namespace slm {

// The multiplier of the peak learning rate at optimizer step `step` (0-based), as
// transformers' get_{constant,linear,cosine}_schedule_with_warmup compute it.
double lr_factor(LrSchedule schedule, std::int64_t step, std::int64_t warmup, std::int64_t total);

struct OptimizerSettings {
  double learning_rate = 2e-4;
  double loraplus_lr_ratio = 1;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, weight_decay = 0;
  double max_grad_norm = 1;  // 0 = no clipping
  LrSchedule schedule = LrSchedule::Cosine;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;
  static OptimizerSettings from_recipe(const TrainSection& t, std::int64_t total_steps);
};

struct StepReport {
  double learning_rate = 0;  // used for A (B uses it times the LoRA+ ratio)
  double grad_norm = 0;      // before clipping
};

class AdamWOptimizer {
 public:
  // backend: where the adapters' parameters and gradients live (the step's; the moments are
  // mirrored there too); nullptr: the CPU.
  AdamWOptimizer(LoraAdapters& adapters, const OptimizerSettings& settings, Backend* backend = nullptr);

  // Clips, updates every adapter weight from its accumulated gradient, zeroes the gradients and
  // advances the step. Throws slm::Error when the gradient norm is not finite (the adapters are
  // left untouched, so the last good state stays good).
  StepReport step();

  // Zeroes the accumulated gradients without a step (a stop inside an accumulation window).
  void discard_gradients();
  std::int64_t steps_done() const { return step_; }
  float* moment1() { return m_base_; }  // [count] (checkpoints read and write these)
  float* moment2() { return v_base_; }
  const float* moment1() const { return m_base_; }
  const float* moment2() const { return v_base_; }
  void set_steps_done(std::int64_t steps) { step_ = steps; }

 private:
  LoraAdapters& adapters_;
  OptimizerSettings settings_;
  std::unique_ptr<Backend> own_backend_;  // when no backend was given
  Backend& backend_;
  FloatArena m_, v_;
  std::vector<MirrorLease> leases_;  // parameters, gradients and moments, on the backend
  float* m_base_ = nullptr;
  float* v_base_ = nullptr;
  std::int64_t step_ = 0;
};

}  // namespace slm
