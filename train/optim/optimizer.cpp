// optimizer.cpp — schedules, clipping and the two AdamW calls (A region, B region).
#include "train/optim/optimizer.h"

#include <algorithm>
#include <cmath>

#include "train/backend/cpu_backend.h"
#include "train/core/error.h"

namespace slm {

double lr_factor(LrSchedule schedule, std::int64_t step, std::int64_t warmup, std::int64_t total) {
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  const double remaining = static_cast<double>(std::max<std::int64_t>(1, total - warmup));
  switch (schedule) {
    case LrSchedule::Constant: return 1.0;
    case LrSchedule::Linear: return std::max(0.0, static_cast<double>(total - step) / remaining);
    case LrSchedule::Cosine: {
      const double progress = static_cast<double>(step - warmup) / remaining;
      return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 2.0 * 0.5 * progress)));
    }
  }
  return 1.0;
}

OptimizerSettings OptimizerSettings::from_recipe(const TrainSection& t, std::int64_t total_steps) {
  OptimizerSettings s;
  s.learning_rate = t.learning_rate;
  s.loraplus_lr_ratio = t.loraplus_lr_ratio;
  s.beta1 = t.adam_beta1;
  s.beta2 = t.adam_beta2;
  s.epsilon = t.adam_epsilon;
  s.weight_decay = t.weight_decay;
  s.max_grad_norm = t.max_grad_norm;
  s.schedule = t.lr_scheduler;
  s.warmup_steps = t.warmup_steps;
  s.total_steps = total_steps;
  return s;
}

AdamWOptimizer::AdamWOptimizer(LoraAdapters& adapters, const OptimizerSettings& settings, Backend* backend)
    : adapters_(adapters), settings_(settings), own_backend_(backend ? nullptr : make_cpu_backend()),
      backend_(backend ? *backend : *own_backend_), m_(adapters.count(), "AdamW first moments"),
      v_(adapters.count(), "AdamW second moments") {
  m_base_ = m_.take(adapters.count());
  v_base_ = v_.take(adapters.count());
  leases_ = {backend_.mirror(adapters.params(), adapters.count(), "LoRA parameters"),
             backend_.mirror(adapters.grads(), adapters.count(), "LoRA gradients"),
             backend_.mirror(m_base_, adapters.count(), "AdamW first moments"),
             backend_.mirror(v_base_, adapters.count(), "AdamW second moments")};
}

void AdamWOptimizer::discard_gradients() { backend_.zero(adapters_.grads(), adapters_.count()); }

StepReport AdamWOptimizer::step() {
  const auto n = static_cast<std::int64_t>(adapters_.count());
  StepReport report;
  report.grad_norm = std::sqrt(backend_.grad_norm_squared(adapters_.grads(), static_cast<std::size_t>(n)));
  if (!std::isfinite(report.grad_norm))
    SLM_FAIL("step ", step_ + 1, ": the gradient norm is ", report.grad_norm,
             "; the loss diverged. Lower train.learning_rate or check the data; the adapters were not updated");
  float grad_scale = 1.0f;
  if (settings_.max_grad_norm > 0) {
    const double coef = settings_.max_grad_norm / (report.grad_norm + 1e-6);  // torch's clip_grad_norm_
    if (coef < 1.0) grad_scale = static_cast<float>(coef);
  }
  report.learning_rate =
      settings_.learning_rate * lr_factor(settings_.schedule, step_, settings_.warmup_steps, settings_.total_steps);
  AdamWParams p;
  p.beta1 = static_cast<float>(settings_.beta1);
  p.beta2 = static_cast<float>(settings_.beta2);
  p.eps = static_cast<float>(settings_.epsilon);
  p.weight_decay = static_cast<float>(settings_.weight_decay);
  p.grad_scale = grad_scale;
  p.step = step_ + 1;
  const std::size_t a = adapters_.base_lr_count(), total = adapters_.count();
  p.lr = static_cast<float>(report.learning_rate);
  backend_.adamw_step(p, adapters_.params(), adapters_.grads(), m_base_, v_base_, a);
  p.lr = static_cast<float>(report.learning_rate * settings_.loraplus_lr_ratio);
  backend_.adamw_step(p, adapters_.params() + a, adapters_.grads() + a, m_base_ + a, v_base_ + a, total - a);
  discard_gradients();
  ++step_;
  return report;
}

}  // namespace slm
