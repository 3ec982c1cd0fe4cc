// adapters.h — the trainable LoRA adapters of a model: which linear layers have one, their A and
// B matrices in fp32 arenas (parameters, gradients), initialization, and PEFT's tensor names.
//
// Layout: every A, then every DoRA magnitude, then every B, each a contiguous region, so LoRA+
// (a separate learning rate for B) is two optimizer calls over two ranges. Shapes are PEFT's:
// A [r, in], B [out, r], magnitude [out].
// Does not hold: the forward/backward (train/model/llama_train.*), the optimizer state, or files
// (checkpoints/peft_adapter.*).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "train/core/arena.h"
#include "train/model/config.h"
#include "train/recipe/recipe.h"

namespace slm {

// The seven adaptable linear layers of a Llama-family block, in PEFT's module names.
enum class LinearSlot { QProj, KProj, VProj, OProj, GateProj, UpProj, DownProj };
inline constexpr std::size_t k_num_slots = 7;
std::string_view slot_module_name(LinearSlot slot);  // "self_attn.q_proj", "mlp.down_proj", ...
// (in, out) features of a slot's frozen weight [out, in].
std::pair<std::int64_t, std::int64_t> slot_dims(const ModelConfig& config, LinearSlot slot);

struct LoraModule {
  std::int64_t layer = 0;
  LinearSlot slot = LinearSlot::QProj;
  std::int64_t in = 0, out = 0;  // K, N of the frozen weight [N, K]
  float* a = nullptr;            // [r, K]
  float* b = nullptr;            // [N, r]
  float* da = nullptr;           // [r, K] gradient (accumulated over micro-batches)
  float* db = nullptr;           // [N, r]
  float* magnitude = nullptr;    // [N] DoRA's per-row magnitude m (nullptr without DoRA)
  float* dmagnitude = nullptr;   // [N]
  std::string peft_prefix() const;  // "base_model.model.model.layers.3.self_attn.q_proj"
};

struct LoraSettings {
  std::int64_t rank = 16;
  double alpha = 32;
  double dropout = 0;
  bool use_rslora = false;
  bool use_dora = false;  // y = m / ||W + s B A||_row * (W x + s B A x), the norm detached (PEFT)
  std::array<bool, k_num_slots> targets{};  // by LinearSlot
  static LoraSettings from_recipe(const LoraSection& section);
  float scale() const;  // alpha / r, or alpha / sqrt(r) with rsLoRA
};

// Trainable parameters of adapters with these settings on this model (= LoraAdapters::count()),
// without allocating them (memory plans).
std::size_t lora_parameter_count(const ModelConfig& config, const LoraSettings& settings);

class LoraAdapters {
 public:
  LoraAdapters(const ModelConfig& config, const LoraSettings& settings);
  LoraAdapters(const LoraAdapters&) = delete;
  LoraAdapters& operator=(const LoraAdapters&) = delete;

  const LoraSettings& settings() const { return settings_; }
  const std::vector<LoraModule>& modules() const { return modules_; }
  // The module at (layer, slot), or nullptr when that layer has no adapter there.
  const LoraModule* find(std::int64_t layer, LinearSlot slot) const;

  // PEFT's default: A ~ Kaiming-uniform(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0.
  // gaussian: A ~ N(0, 1/r). Seeded (our generator, not torch's). DoRA magnitudes are set from
  // the frozen weights by initialize_dora_magnitudes (train/lora/merge.h).
  void initialize(LoraInit init, std::uint64_t seed);

  // Parameter and gradient regions: [A | magnitudes | B]; the first base_lr_count() floats learn
  // at the base learning rate, the rest (B) at the LoRA+ rate.
  float* params() { return params_base_; }
  float* grads() { return grads_base_; }
  const float* params() const { return params_base_; }
  const float* grads() const { return grads_base_; }
  std::size_t count() const { return a_count_ + m_count_ + b_count_; }
  std::size_t base_lr_count() const { return a_count_ + m_count_; }
  void zero_grads();

 private:
  LoraSettings settings_;
  std::vector<LoraModule> modules_;
  std::size_t a_count_ = 0, m_count_ = 0, b_count_ = 0;
  FloatArena params_, grads_;  // one contiguous block each: [A | magnitudes | B]
  float* params_base_ = nullptr;
  float* grads_base_ = nullptr;
};

}  // namespace slm
