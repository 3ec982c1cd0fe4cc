// adapters.cpp — adapter layout and initialization.
#include "train/lora/adapters.h"

#include <cmath>
#include <cstring>
#include <random>

#include "train/core/error.h"

namespace slm {
namespace {
constexpr std::array<std::string_view, k_num_slots> k_slot_names = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

}  // namespace

std::pair<std::int64_t, std::int64_t> slot_dims(const ModelConfig& c, LinearSlot slot) {
  const std::int64_t d = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  switch (slot) {
    case LinearSlot::QProj: return {d, q};
    case LinearSlot::KProj:
    case LinearSlot::VProj: return {d, kv};
    case LinearSlot::OProj: return {q, d};
    case LinearSlot::GateProj:
    case LinearSlot::UpProj: return {d, c.intermediate_size};
    case LinearSlot::DownProj: return {c.intermediate_size, d};
  }
  return {0, 0};
}

std::size_t lora_parameter_count(const ModelConfig& config, const LoraSettings& settings) {
  std::size_t n = 0;
  for (std::size_t s = 0; s < k_num_slots; ++s) {
    if (!settings.targets[s]) continue;
    const auto [in, out] = slot_dims(config, static_cast<LinearSlot>(s));
    n += static_cast<std::size_t>(settings.rank * (in + out) + (settings.use_dora ? out : 0));
  }
  return n * static_cast<std::size_t>(config.num_layers);
}

std::string_view slot_module_name(LinearSlot slot) { return k_slot_names[static_cast<std::size_t>(slot)]; }

std::string LoraModule::peft_prefix() const {
  return "base_model.model.model.layers." + std::to_string(layer) + "." + std::string(slot_module_name(slot));
}

LoraSettings LoraSettings::from_recipe(const LoraSection& section) {
  LoraSettings s;
  s.rank = section.rank;
  s.alpha = section.alpha;
  s.dropout = section.dropout;
  s.use_rslora = section.use_rslora;
  s.use_dora = section.use_dora;
  for (LoraTarget t : section.target_modules) {
    if (t == LoraTarget::AllLinear)
      s.targets.fill(true);
    else
      s.targets[static_cast<std::size_t>(t)] = true;  // LoraTarget and LinearSlot share their order
  }
  return s;
}

float LoraSettings::scale() const {
  return static_cast<float>(use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank));
}

LoraAdapters::LoraAdapters(const ModelConfig& config, const LoraSettings& settings) : settings_(settings) {
  const std::int64_t r = settings.rank;
  for (std::int64_t l = 0; l < config.num_layers; ++l)
    for (std::size_t s = 0; s < k_num_slots; ++s) {
      if (!settings.targets[s]) continue;
      LoraModule m;
      m.layer = l;
      m.slot = static_cast<LinearSlot>(s);
      std::tie(m.in, m.out) = slot_dims(config, m.slot);
      a_count_ += static_cast<std::size_t>(r * m.in);
      if (settings.use_dora) m_count_ += static_cast<std::size_t>(m.out);
      b_count_ += static_cast<std::size_t>(m.out * r);
      modules_.push_back(m);
    }
  SLM_CHECK(!modules_.empty(), "lora.target_modules selects no layer of this model");
  params_ = FloatArena(count(), "LoRA adapters");
  grads_ = FloatArena(count(), "LoRA gradients");
  params_base_ = params_.take(count());
  grads_base_ = grads_.take(count());
  std::size_t a_at = 0, m_at = a_count_, b_at = a_count_ + m_count_;
  for (LoraModule& m : modules_) {
    m.a = params_base_ + a_at;
    m.da = grads_base_ + a_at;
    m.b = params_base_ + b_at;
    m.db = grads_base_ + b_at;
    if (settings.use_dora) {
      m.magnitude = params_base_ + m_at;
      m.dmagnitude = grads_base_ + m_at;
      m_at += static_cast<std::size_t>(m.out);
    }
    a_at += static_cast<std::size_t>(r * m.in);
    b_at += static_cast<std::size_t>(m.out * r);
  }
}

const LoraModule* LoraAdapters::find(std::int64_t layer, LinearSlot slot) const {
  for (const LoraModule& m : modules_)
    if (m.layer == layer && m.slot == slot) return &m;
  return nullptr;
}

void LoraAdapters::initialize(LoraInit init, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const std::int64_t r = settings_.rank;
  for (LoraModule& m : modules_) {
    const std::size_t n = static_cast<std::size_t>(r * m.in);
    if (init == LoraInit::Kaiming) {
      const float bound = 1.0f / std::sqrt(static_cast<float>(m.in));
      std::uniform_real_distribution<float> u(-bound, bound);
      for (std::size_t i = 0; i < n; ++i) m.a[i] = u(rng);
    } else {
      std::normal_distribution<float> g(0.0f, 1.0f / static_cast<float>(r));
      for (std::size_t i = 0; i < n; ++i) m.a[i] = g(rng);
    }
    std::memset(m.b, 0, sizeof(float) * static_cast<std::size_t>(m.out * r));
  }
  zero_grads();
}

void LoraAdapters::zero_grads() { std::memset(grads_base_, 0, sizeof(float) * count()); }

}  // namespace slm
