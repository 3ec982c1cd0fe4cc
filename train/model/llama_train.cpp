// llama_train.cpp — the training forward (activations kept per layer) and its explicit
// backward, in the reverse order of the same layer calls.
#include "train/model/llama_train.h"

#include "kernels/dropout_hash.h"

#include <omp.h>

#include <array>
#include <cmath>
#include <cstring>

#include "kernels/cpu/attention_backward.h"
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cpu/layers.h"
#include "kernels/cpu/layers_backward.h"
#include "kernels/cpu/lora.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_backward.h"
#include "train/core/error.h"
#include "train/lora/merge.h"

namespace slm {

void TokenBatch::add_segment(std::span<const std::int32_t> ids, std::span<const std::int32_t> labels) {
  SLM_CHECK(ids.size() == labels.size() && !ids.empty(), "internal: segment ids and labels differ in length");
  if (cu_seqlens.empty()) cu_seqlens.push_back(0);
  for (std::size_t t = 0; t < ids.size(); ++t) {
    tokens.push_back(ids[t]);
    targets.push_back(t + 1 < ids.size() ? labels[t + 1] : cpu::k_ignore_index);
    positions.push_back(static_cast<std::int32_t>(t));
  }
  cu_seqlens.push_back(static_cast<std::int32_t>(tokens.size()));
}

std::int64_t TokenBatch::target_count() const {
  std::int64_t n = 0;
  for (std::int32_t t : targets) n += t != cpu::k_ignore_index;
  return n;
}

LoraTrainStep::LoraTrainStep(const LlamaWeights& weights, LoraAdapters* adapters, std::int64_t max_tokens,
                             bool checkpointing)
    : w_(weights), c_(weights.config), adapters_(adapters), max_tokens_(max_tokens), checkpointing_(checkpointing),
      inv_freq_(rope_inv_freq(c_)),
      module_of_(static_cast<std::size_t>(c_.num_layers) * k_num_slots, -1), ce_chunk_(std::min<std::int64_t>(max_tokens, 256)) {
  static const std::vector<LoraModule> k_none;
  const auto& mods = adapters_ ? adapters_->modules() : k_none;
  for (std::size_t i = 0; i < mods.size(); ++i)
    module_of_[static_cast<std::size_t>(mods[i].layer) * k_num_slots + static_cast<std::size_t>(mods[i].slot)] =
        static_cast<std::int64_t>(i);
  const std::int64_t n = max_tokens, d = c_.hidden_size, f = c_.intermediate_size, r = adapters_ ? adapters_->settings().rank : 0;
  const std::int64_t qd = c_.num_heads * c_.head_dim, kvd = c_.num_kv_heads * c_.head_dim, h = c_.num_heads;
  const std::int64_t threads = omp_get_max_threads();
  const bool dropout = adapters_ && adapters_->settings().dropout > 0;
  const bool dora = adapters_ && adapters_->settings().use_dora;
  std::int64_t max_out = 0, max_weight = 0;
  for (const LoraModule& m : mods) {
    max_out = std::max(max_out, m.out);
    max_weight = std::max(max_weight, m.out * (m.in + adapters_->settings().rank));
  }
  const std::int64_t layer_sizes[] = {n * d, n * d, n * qd, n * kvd, n * kvd, n * qd, n * h, n * d, n * d, n * f, n * f, n * f};
  const std::int64_t scratch_sizes[] = {n * d, n * d, n * (c_.head_dim / 2), n * (c_.head_dim / 2),  // res_final .. sin
                                        n * d, n * d, n * qd, n * kvd, n * kvd, n * qd, n * f, n * f, n * f, n * r,
                                        std::max(threads * n, n * h), ce_chunk_ * (c_.vocab_size + d + 1),
                                        dropout ? n * std::max(d, std::max(f, qd)) : 0,
                                        dropout ? n * std::max(d, std::max(f, qd)) : 0,
                                        dora ? max_weight : 0, dora ? n * max_out : 0, dora ? n * max_out : 0};
  std::size_t total = 0, one_layer = 0;
  for (std::int64_t s : layer_sizes) one_layer += FloatArena::padded(static_cast<std::size_t>(s));
  total += checkpointing ? one_layer + static_cast<std::size_t>(c_.num_layers) * FloatArena::padded(static_cast<std::size_t>(n * d))
                         : static_cast<std::size_t>(c_.num_layers) * one_layer;
  total += mods.size() * FloatArena::padded(static_cast<std::size_t>(n * r));
  for (const LoraModule& m : mods) total += dora ? FloatArena::padded(static_cast<std::size_t>(m.out)) : 0;
  for (std::int64_t s : scratch_sizes) total += FloatArena::padded(static_cast<std::size_t>(s));
  arena_ = FloatArena(total, "training activations");
  auto take = [&](std::int64_t count) { return arena_.take(static_cast<std::size_t>(count)); };
  auto slots_of = [](LayerActs& a) {
    return std::array<float**, 12>{&a.res_in, &a.xn1, &a.q, &a.k, &a.v, &a.attn, &a.lse, &a.res_mid, &a.xn2, &a.gate, &a.up, &a.act};
  };
  acts_.resize(static_cast<std::size_t>(c_.num_layers));
  for (std::size_t i = 0; i < acts_.size(); ++i) {
    const auto slots = slots_of(acts_[i]), first = slots_of(acts_[0]);
    // With checkpointing every layer keeps its own input (slot 0) and shares the rest.
    for (std::size_t s = 0; s < slots.size(); ++s)
      *slots[s] = (checkpointing && i > 0 && s > 0) ? *first[s] : take(layer_sizes[s]);
  }
  for (std::size_t i = 0; i < mods.size(); ++i) xa_.push_back(take(n * r));
  for (std::size_t i = 0; i < mods.size(); ++i) inv_norm_.push_back(dora ? take(mods[i].out) : nullptr);
  float** scratch[] = {&res_final_, &xn_final_, &cos_, &sin_, &dx_, &dxn_, &dq_, &dk_, &dv_, &dattn_,
                       &dgate_, &dup_, &dact_, &lora_g_, &attn_scratch_, &ce_scratch_, &mask_, &masked_x_,
                       &dora_work_, &dora_z_, &dora_dz_};
  for (std::size_t s = 0; s < std::size(scratch); ++s) *scratch[s] = take(scratch_sizes[s]);
}

const float* LoraTrainStep::dropout_mask(std::int64_t l, LinearSlot slot, std::int64_t n, std::int64_t k) {
  const double p = adapters_->settings().dropout;
  if (!training_ || p <= 0) return nullptr;
  if (mask_provider_) {
    mask_provider_(micro_batches_, l, slot, mask_, n, k);
    return mask_;
  }
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  const std::uint64_t base = dropout_base(dropout_seed_, micro_batches_, l, static_cast<std::int64_t>(slot), k_num_slots);
  const std::uint64_t threshold = dropout_threshold(p);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n * k; ++i) mask_[i] = dropout_drops(base, static_cast<std::uint64_t>(i), threshold) ? 0.0f : keep;
  return mask_;
}

void LoraTrainStep::linear_forward(float* y, const float* x, const float* w, std::int64_t l, LinearSlot slot,
                                   std::int64_t n, std::int64_t in, std::int64_t out) {
  cpu::matmul_nt(y, x, w, n, out, in);
  const std::int64_t m = module_of_[static_cast<std::size_t>(l) * k_num_slots + static_cast<std::size_t>(slot)];
  if (m < 0) return;
  const LoraModule& mod = adapters_->modules()[static_cast<std::size_t>(m)];
  cpu::lora_forward(y, x, mod.a, mod.b, adapters_->settings().scale(), xa_[static_cast<std::size_t>(m)], n, out, in,
                    adapters_->settings().rank, dropout_mask(l, slot, n, in), masked_x_);
  if (!mod.magnitude) return;
  // DoRA: y = m / ||W + s B A||_row * (W x + s B A x); the norm is a constant for the backward.
  float* inv = inv_norm_[static_cast<std::size_t>(m)];
  dora_inverse_row_norms(w, mod, adapters_->settings().rank, adapters_->settings().scale(), dora_work_, inv);
#pragma omp parallel for schedule(static) if (n * out > 65536)
  for (std::int64_t t = 0; t < n; ++t)
    for (std::int64_t j = 0; j < out; ++j) y[t * out + j] *= mod.magnitude[j] * inv[j];
}

// dx = beta * dx + dy W (+ the adapter's part); adapter gradients accumulate.
void LoraTrainStep::linear_backward(float* dx, const float* dy, const float* x, const float* w, std::int64_t l,
                                    LinearSlot slot, std::int64_t n, std::int64_t in, std::int64_t out, float beta) {
  const std::int64_t m = module_of_[static_cast<std::size_t>(l) * k_num_slots + static_cast<std::size_t>(slot)];
  const LoraModule* dora = m >= 0 && adapters_->modules()[static_cast<std::size_t>(m)].magnitude
                               ? &adapters_->modules()[static_cast<std::size_t>(m)]
                               : nullptr;
  if (dora) dy = dora_backward(*dora, m, dy, x, w, l, slot, n, in, out);
  cpu::matmul_nn(dx, dy, w, n, in, out, beta);
  if (m < 0) return;
  const LoraModule& mod = adapters_->modules()[static_cast<std::size_t>(m)];
  cpu::lora_backward(mod.da, mod.db, dx, dy, x, mod.a, mod.b, xa_[static_cast<std::size_t>(m)],
                     adapters_->settings().scale(), n, out, in, adapters_->settings().rank, lora_g_,
                     dropout_mask(l, slot, n, in), masked_x_);
}

// DoRA's part of the backward, given dy of y = c * z (c = m * inv_norm per output, z = W x + s B A x):
// dm += sum_t dy * z * inv_norm (accumulates); returns dz = dy * c (in dora_dz_) for the rest.
const float* LoraTrainStep::dora_backward(const LoraModule& mod, std::int64_t m, const float* dy, const float* x,
                                          const float* w, std::int64_t l, LinearSlot slot, std::int64_t n,
                                          std::int64_t in, std::int64_t out) {
  const float* inv = inv_norm_[static_cast<std::size_t>(m)];
  cpu::matmul_nt(dora_z_, x, w, n, out, in);  // z, recomputed rather than kept
  cpu::lora_forward(dora_z_, x, mod.a, mod.b, adapters_->settings().scale(), xa_[static_cast<std::size_t>(m)], n, out,
                    in, adapters_->settings().rank, dropout_mask(l, slot, n, in), masked_x_);
  for (std::int64_t j = 0; j < out; ++j) {
    float sum = 0.0f;
    for (std::int64_t t = 0; t < n; ++t) sum += dy[t * out + j] * dora_z_[t * out + j];
    mod.dmagnitude[j] += sum * inv[j];
  }
#pragma omp parallel for schedule(static) if (n * out > 65536)
  for (std::int64_t t = 0; t < n; ++t)
    for (std::int64_t j = 0; j < out; ++j) dora_dz_[t * out + j] = dy[t * out + j] * mod.magnitude[j] * inv[j];
  return dora_dz_;
}

void LoraTrainStep::layer_forward(std::int64_t l, std::int64_t n, const std::int32_t* cu, std::int64_t docs) {
  const LlamaLayerWeights& lw = w_.layers[static_cast<std::size_t>(l)];
  const LayerActs& a = acts_[static_cast<std::size_t>(l)];
  const std::int64_t d = c_.hidden_size, e = c_.head_dim, h = c_.num_heads, g = c_.num_kv_heads, f = c_.intermediate_size;
  const float eps = static_cast<float>(c_.rms_norm_eps);
  float* x = res_final_;  // the residual stream enters as res_final_ and leaves there
  std::memcpy(a.res_in, x, sizeof(float) * static_cast<std::size_t>(n * d));
  cpu::rmsnorm_forward(a.xn1, x, lw.input_layernorm, n, d, eps);
  linear_forward(a.q, a.xn1, lw.q_proj, l, LinearSlot::QProj, n, d, h * e);
  linear_forward(a.k, a.xn1, lw.k_proj, l, LinearSlot::KProj, n, d, g * e);
  linear_forward(a.v, a.xn1, lw.v_proj, l, LinearSlot::VProj, n, d, g * e);
  cpu::rope_forward(a.q, cos_, sin_, n, h, e);
  cpu::rope_forward(a.k, cos_, sin_, n, g, e);
  cpu::attention_forward_train(a.attn, a.lse, a.q, a.k, a.v, n, h, g, e, 1.0f / std::sqrt(static_cast<float>(e)), cu,
                               docs, attn_scratch_);
  linear_forward(dxn_, a.attn, lw.o_proj, l, LinearSlot::OProj, n, h * e, d);
  cpu::add_inplace(x, dxn_, n * d);
  std::memcpy(a.res_mid, x, sizeof(float) * static_cast<std::size_t>(n * d));
  cpu::rmsnorm_forward(a.xn2, x, lw.post_attention_layernorm, n, d, eps);
  linear_forward(a.gate, a.xn2, lw.gate_proj, l, LinearSlot::GateProj, n, d, f);
  linear_forward(a.up, a.xn2, lw.up_proj, l, LinearSlot::UpProj, n, d, f);
  cpu::swiglu_forward(a.act, a.gate, a.up, n * f);
  linear_forward(dxn_, a.act, lw.down_proj, l, LinearSlot::DownProj, n, f, d);
  cpu::add_inplace(x, dxn_, n * d);
}

void LoraTrainStep::forward(const TokenBatch& batch, bool training) {
  training_ = training;
  const std::int64_t n = batch.size(), d = c_.hidden_size, half = c_.head_dim / 2;
  SLM_CHECK(n > 0 && n <= max_tokens_, "internal: micro-batch of ", n, " tokens, sized for ", max_tokens_);
  SLM_CHECK(batch.cu_seqlens.size() >= 2 && batch.cu_seqlens.back() == n, "internal: bad segment boundaries");
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < half; ++j) {
      const float angle = static_cast<float>(batch.positions[static_cast<std::size_t>(i)]) * inv_freq_[static_cast<std::size_t>(j)];
      cos_[i * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin_[i * half + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  cpu::embedding_forward(res_final_, w_.embed_tokens, batch.tokens.data(), n, d, c_.vocab_size);
  const std::int64_t docs = static_cast<std::int64_t>(batch.cu_seqlens.size()) - 1;
  for (std::int64_t l = 0; l < c_.num_layers; ++l) layer_forward(l, n, batch.cu_seqlens.data(), docs);
  cpu::rmsnorm_forward(xn_final_, res_final_, w_.norm, n, d, static_cast<float>(c_.rms_norm_eps));
}

void LoraTrainStep::layer_backward(std::int64_t l, std::int64_t n, const std::int32_t* cu, std::int64_t docs) {
  const LlamaLayerWeights& lw = w_.layers[static_cast<std::size_t>(l)];
  const LayerActs& a = acts_[static_cast<std::size_t>(l)];
  if (checkpointing_) {
    // Recompute this layer's activations from its kept input. The residual stream buffer is
    // free during the backward (the final norm's backward has consumed it).
    std::memcpy(res_final_, a.res_in, sizeof(float) * static_cast<std::size_t>(n * c_.hidden_size));
    layer_forward(l, n, cu, docs);
  }
  const std::int64_t d = c_.hidden_size, e = c_.head_dim, h = c_.num_heads, g = c_.num_kv_heads, f = c_.intermediate_size;
  const float eps = static_cast<float>(c_.rms_norm_eps);
  // MLP block: x_out = res_mid + down(swiglu(gate(xn2), up(xn2))). dx_ holds d x_out.
  linear_backward(dact_, dx_, a.act, lw.down_proj, l, LinearSlot::DownProj, n, f, d, 0.0f);
  cpu::swiglu_backward(dgate_, dup_, dact_, a.gate, a.up, n * f);
  linear_backward(dxn_, dgate_, a.xn2, lw.gate_proj, l, LinearSlot::GateProj, n, d, f, 0.0f);
  linear_backward(dxn_, dup_, a.xn2, lw.up_proj, l, LinearSlot::UpProj, n, d, f, 1.0f);
  cpu::rmsnorm_backward(dx_, dxn_, a.res_mid, lw.post_attention_layernorm, n, d, eps, true);
  // Attention block: res_mid = res_in + o(attention(rope(q(xn1)), rope(k(xn1)), v(xn1))).
  linear_backward(dattn_, dx_, a.attn, lw.o_proj, l, LinearSlot::OProj, n, h * e, d, 0.0f);
  cpu::attention_backward(dq_, dk_, dv_, dattn_, a.q, a.k, a.v, a.attn, a.lse, n, h, g, e,
                          1.0f / std::sqrt(static_cast<float>(e)), cu, docs, attn_scratch_);
  cpu::rope_backward(dq_, cos_, sin_, n, h, e);
  cpu::rope_backward(dk_, cos_, sin_, n, g, e);
  linear_backward(dxn_, dq_, a.xn1, lw.q_proj, l, LinearSlot::QProj, n, d, h * e, 0.0f);
  linear_backward(dxn_, dk_, a.xn1, lw.k_proj, l, LinearSlot::KProj, n, d, g * e, 1.0f);
  linear_backward(dxn_, dv_, a.xn1, lw.v_proj, l, LinearSlot::VProj, n, d, g * e, 1.0f);
  if (l > 0) cpu::rmsnorm_backward(dx_, dxn_, a.res_in, lw.input_layernorm, n, d, eps, true);  // embeddings are frozen
}

double LoraTrainStep::forward_backward(const TokenBatch& batch, float grad_scale) {
  forward(batch, true);
  const std::int64_t n = batch.size(), d = c_.hidden_size;
  double loss_sum = 0;
  // dxn_ receives d(final normed hidden); then the final norm's backward seeds dx_.
  cpu::cross_entropy_forward_backward(&loss_sum, dxn_, xn_final_, w_.lm_head, batch.targets.data(), n, d,
                                      c_.vocab_size, ce_chunk_, grad_scale, ce_scratch_);
  cpu::rmsnorm_backward(dx_, dxn_, res_final_, w_.norm, n, d, static_cast<float>(c_.rms_norm_eps), false);
  const std::int64_t docs = static_cast<std::int64_t>(batch.cu_seqlens.size()) - 1;
  for (std::int64_t l = c_.num_layers - 1; l >= 0; --l) layer_backward(l, n, batch.cu_seqlens.data(), docs);
  ++micro_batches_;
  training_ = false;
  return loss_sum;
}

double LoraTrainStep::loss(const TokenBatch& batch) {
  forward(batch, false);
  double loss_sum = 0;
  cpu::cross_entropy_forward_backward(&loss_sum, dxn_, xn_final_, w_.lm_head, batch.targets.data(), batch.size(),
                                      c_.hidden_size, c_.vocab_size, ce_chunk_, 0.0f, ce_scratch_);
  return loss_sum;
}

void LoraTrainStep::logits(const TokenBatch& batch, float* out) {
  forward(batch, false);
  cpu::matmul_nt(out, xn_final_, w_.lm_head, batch.size(), c_.vocab_size, c_.hidden_size);
}

}  // namespace slm
