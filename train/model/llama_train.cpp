// llama_train.cpp — the training forward (activations kept per layer) and its explicit
// backward, in the reverse order of the same layer calls.
#include "train/model/llama_train.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "kernels/cpu/cross_entropy.h"
#include "kernels/dropout_hash.h"
#include "train/backend/cpu_backend.h"
#include "train/core/error.h"

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

namespace {

// The step's buffers, in floats: twelve kept per layer, fourteen shared (see the constructor).
struct StepLayout {
  std::array<std::int64_t, 12> layer;
  std::array<std::int64_t, 14> scratch;
};
StepLayout step_layout(const ModelConfig& c, std::int64_t n) {
  const std::int64_t d = c.hidden_size, f = c.intermediate_size, h = c.num_heads, half = c.head_dim / 2;
  const std::int64_t qd = c.num_heads * c.head_dim, kvd = c.num_kv_heads * c.head_dim;
  return {{n * d, n * d, n * qd, n * kvd, n * kvd, n * qd, n * h, n * d, n * d, n * f, n * f, n * f},
          {n * d, n * d, n * half, n * half, half,  // res_final .. inv_freq
           n * d, n * d, n * qd, n * kvd, n * kvd, n * qd, n * f, n * f, n * f}};
}

std::size_t floats_bytes(std::int64_t count) {
  return BackendArena::padded_bytes(static_cast<std::size_t>(count) * sizeof(float));
}

}  // namespace

std::size_t LoraTrainStep::arena_bytes(const ModelConfig& c, const LoraSettings* lora, std::int64_t max_tokens,
                                       bool checkpointing) {
  const std::int64_t n = max_tokens;
  const StepLayout layout = step_layout(c, n);
  std::size_t total = 0, one_layer = 0;
  for (std::int64_t s : layout.layer) one_layer += floats_bytes(s);
  total += checkpointing ? one_layer + static_cast<std::size_t>(c.num_layers) * floats_bytes(n * c.hidden_size)
                         : static_cast<std::size_t>(c.num_layers) * one_layer;
  for (std::int64_t l = 0; lora && l < c.num_layers; ++l)
    for (std::size_t s = 0; s < k_num_slots; ++s) {
      if (!lora->targets[s]) continue;
      total += floats_bytes(n * lora->rank);  // x A^T
      if (lora->use_dora) total += floats_bytes(slot_dims(c, static_cast<LinearSlot>(s)).second);
    }
  for (std::int64_t s : layout.scratch) total += floats_bytes(s);
  return total + 3 * floats_bytes(n) + floats_bytes(n + 1);  // tokens, targets, positions, cu_seqlens (int32)
}

LoraTrainStep::LoraTrainStep(const LlamaWeights& weights, LoraAdapters* adapters, std::int64_t max_tokens,
                             bool checkpointing, Backend* backend)
    : w_(weights), c_(weights.config), adapters_(adapters), max_tokens_(max_tokens), checkpointing_(checkpointing),
      own_backend_(backend ? nullptr : make_cpu_backend()), backend_(backend ? *backend : *own_backend_),
      module_of_(static_cast<std::size_t>(c_.num_layers) * k_num_slots, -1) {
  static const std::vector<LoraModule> k_none;
  const auto& mods = adapters_ ? adapters_->modules() : k_none;
  for (std::size_t i = 0; i < mods.size(); ++i)
    module_of_[static_cast<std::size_t>(mods[i].layer) * k_num_slots + static_cast<std::size_t>(mods[i].slot)] =
        static_cast<std::int64_t>(i);
  backend_.reserve(c_, max_tokens, adapters_ ? &adapters_->settings() : nullptr);
  if (adapters_) {
    params_lease_ = backend_.mirror(adapters_->params(), adapters_->count(), "LoRA parameters");
    grads_lease_ = backend_.mirror(adapters_->grads(), adapters_->count(), "LoRA gradients");
  }
  const std::int64_t n = max_tokens, r = adapters_ ? adapters_->settings().rank : 0;
  const bool dora = adapters_ && adapters_->settings().use_dora;
  const StepLayout layout = step_layout(c_, n);
  const auto& layer_sizes = layout.layer;
  const auto& scratch_sizes = layout.scratch;
  arena_ = backend_.allocate(arena_bytes(c_, adapters_ ? &adapters_->settings() : nullptr, n, checkpointing),
                             "training activations");
  auto take = [&](std::int64_t count) { return arena_.take<float>(static_cast<std::size_t>(count)); };
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
  float** scratch[] = {&res_final_, &xn_final_, &cos_, &sin_, &inv_freq_, &dx_, &dxn_, &dq_, &dk_, &dv_, &dattn_,
                       &dgate_, &dup_, &dact_};
  for (std::size_t s = 0; s < std::size(scratch); ++s) *scratch[s] = take(scratch_sizes[s]);
  tokens_ = arena_.take<std::int32_t>(static_cast<std::size_t>(n));
  targets_ = arena_.take<std::int32_t>(static_cast<std::size_t>(n));
  positions_ = arena_.take<std::int32_t>(static_cast<std::size_t>(n));
  cu_seqlens_ = arena_.take<std::int32_t>(static_cast<std::size_t>(n + 1));
  const std::vector<float> inv_freq = rope_inv_freq(c_);
  backend_.upload(inv_freq_, inv_freq.data(), inv_freq.size() * sizeof(float));
}

LinearCall LoraTrainStep::linear(std::int64_t l, LinearSlot slot, const float* w, std::int64_t n) const {
  LinearCall call;
  call.w = w;
  std::tie(call.in, call.out) = slot_dims(c_, slot);
  call.n = n;
  const std::int64_t m = module_of_[static_cast<std::size_t>(l) * k_num_slots + static_cast<std::size_t>(slot)];
  if (m < 0) return call;
  const LoraSettings& settings = adapters_->settings();
  call.lora = &adapters_->modules()[static_cast<std::size_t>(m)];
  call.xa = xa_[static_cast<std::size_t>(m)];
  call.inv_norm = inv_norm_[static_cast<std::size_t>(m)];
  call.lora_scale = settings.scale();
  call.rank = settings.rank;
  if (training_ && settings.dropout > 0) {
    call.dropout.p = settings.dropout;
    call.dropout.base = dropout_base(dropout_seed_, micro_batches_, l, static_cast<std::int64_t>(slot), k_num_slots);
    if (mask_provider_)
      call.dropout.recorded = [this, l, slot](float* mask, std::int64_t rows, std::int64_t k) {
        mask_provider_(micro_batches_, l, slot, mask, rows, k);
      };
  }
  return call;
}

void LoraTrainStep::layer_forward(std::int64_t l, std::int64_t n) {
  const LlamaLayerWeights& lw = w_.layers[static_cast<std::size_t>(l)];
  const LayerActs& a = acts_[static_cast<std::size_t>(l)];
  const std::int64_t d = c_.hidden_size, e = c_.head_dim, h = c_.num_heads, g = c_.num_kv_heads, f = c_.intermediate_size;
  const float eps = static_cast<float>(c_.rms_norm_eps);
  Backend& be = backend_;
  float* x = res_final_;  // the residual stream enters as res_final_ and leaves there
  be.copy(a.res_in, x, static_cast<std::size_t>(n * d));
  be.rmsnorm_forward(a.xn1, x, lw.input_layernorm, n, d, eps);
  be.linear_forward(a.q, a.xn1, linear(l, LinearSlot::QProj, lw.q_proj, n));
  be.linear_forward(a.k, a.xn1, linear(l, LinearSlot::KProj, lw.k_proj, n));
  be.linear_forward(a.v, a.xn1, linear(l, LinearSlot::VProj, lw.v_proj, n));
  be.rope_forward(a.q, cos_, sin_, n, h, e);
  be.rope_forward(a.k, cos_, sin_, n, g, e);
  be.attention_forward(a.attn, a.lse, a.q, a.k, a.v, {n, h, g, e, 1.0f / std::sqrt(static_cast<float>(e))}, batch_);
  be.linear_forward(dxn_, a.attn, linear(l, LinearSlot::OProj, lw.o_proj, n));
  be.add_inplace(x, dxn_, n * d);
  be.copy(a.res_mid, x, static_cast<std::size_t>(n * d));
  be.rmsnorm_forward(a.xn2, x, lw.post_attention_layernorm, n, d, eps);
  be.linear_forward(a.gate, a.xn2, linear(l, LinearSlot::GateProj, lw.gate_proj, n));
  be.linear_forward(a.up, a.xn2, linear(l, LinearSlot::UpProj, lw.up_proj, n));
  be.swiglu_forward(a.act, a.gate, a.up, n * f);
  be.linear_forward(dxn_, a.act, linear(l, LinearSlot::DownProj, lw.down_proj, n));
  be.add_inplace(x, dxn_, n * d);
}

void LoraTrainStep::forward(const TokenBatch& batch, bool training) {
  training_ = training;
  const std::int64_t n = batch.size(), d = c_.hidden_size;
  SLM_CHECK(n > 0 && n <= max_tokens_, "internal: micro-batch of ", n, " tokens, sized for ", max_tokens_);
  SLM_CHECK(batch.cu_seqlens.size() >= 2 && batch.cu_seqlens.back() == n, "internal: bad segment boundaries");
  const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(std::int32_t);
  backend_.upload(tokens_, batch.tokens.data(), bytes);
  backend_.upload(targets_, batch.targets.data(), bytes);
  backend_.upload(positions_, batch.positions.data(), bytes);
  backend_.upload(cu_seqlens_, batch.cu_seqlens.data(), batch.cu_seqlens.size() * sizeof(std::int32_t));
  batch_ = {tokens_, targets_, positions_, cu_seqlens_, batch.cu_seqlens.data(), n,
            static_cast<std::int64_t>(batch.cu_seqlens.size()) - 1, 0};
  for (std::size_t i = 1; i < batch.cu_seqlens.size(); ++i)
    batch_.max_doc_len = std::max<std::int64_t>(batch_.max_doc_len, batch.cu_seqlens[i] - batch.cu_seqlens[i - 1]);
  backend_.rope_tables(cos_, sin_, positions_, inv_freq_, n, c_.head_dim / 2);
  backend_.embedding_forward(res_final_, w_.embed_tokens, tokens_, n, d, c_.vocab_size);
  for (std::int64_t l = 0; l < c_.num_layers; ++l) layer_forward(l, n);
  backend_.rmsnorm_forward(xn_final_, res_final_, w_.norm, n, d, static_cast<float>(c_.rms_norm_eps));
}

void LoraTrainStep::layer_backward(std::int64_t l, std::int64_t n) {
  const LlamaLayerWeights& lw = w_.layers[static_cast<std::size_t>(l)];
  const LayerActs& a = acts_[static_cast<std::size_t>(l)];
  Backend& be = backend_;
  if (checkpointing_) {
    // Recompute this layer's activations from its kept input. The residual stream buffer is
    // free during the backward (the final norm's backward has consumed it).
    be.copy(res_final_, a.res_in, static_cast<std::size_t>(n * c_.hidden_size));
    layer_forward(l, n);
  }
  const std::int64_t d = c_.hidden_size, e = c_.head_dim, h = c_.num_heads, g = c_.num_kv_heads, f = c_.intermediate_size;
  const float eps = static_cast<float>(c_.rms_norm_eps);
  // MLP block: x_out = res_mid + down(swiglu(gate(xn2), up(xn2))). dx_ holds d x_out.
  be.linear_backward(dact_, dx_, a.act, linear(l, LinearSlot::DownProj, lw.down_proj, n), 0.0f);
  be.swiglu_backward(dgate_, dup_, dact_, a.gate, a.up, n * f);
  be.linear_backward(dxn_, dgate_, a.xn2, linear(l, LinearSlot::GateProj, lw.gate_proj, n), 0.0f);
  be.linear_backward(dxn_, dup_, a.xn2, linear(l, LinearSlot::UpProj, lw.up_proj, n), 1.0f);
  be.rmsnorm_backward(dx_, dxn_, a.res_mid, lw.post_attention_layernorm, n, d, eps, true);
  // Attention block: res_mid = res_in + o(attention(rope(q(xn1)), rope(k(xn1)), v(xn1))).
  be.linear_backward(dattn_, dx_, a.attn, linear(l, LinearSlot::OProj, lw.o_proj, n), 0.0f);
  be.attention_backward(dq_, dk_, dv_, dattn_, a.q, a.k, a.v, a.attn, a.lse,
                        {n, h, g, e, 1.0f / std::sqrt(static_cast<float>(e))}, batch_);
  be.rope_backward(dq_, cos_, sin_, n, h, e);
  be.rope_backward(dk_, cos_, sin_, n, g, e);
  be.linear_backward(dxn_, dq_, a.xn1, linear(l, LinearSlot::QProj, lw.q_proj, n), 0.0f);
  be.linear_backward(dxn_, dk_, a.xn1, linear(l, LinearSlot::KProj, lw.k_proj, n), 1.0f);
  be.linear_backward(dxn_, dv_, a.xn1, linear(l, LinearSlot::VProj, lw.v_proj, n), 1.0f);
  if (l > 0) be.rmsnorm_backward(dx_, dxn_, a.res_in, lw.input_layernorm, n, d, eps, true);  // embeddings are frozen
}

double LoraTrainStep::forward_backward(const TokenBatch& batch, float grad_scale) {
  forward(batch, true);
  const std::int64_t n = batch.size(), d = c_.hidden_size;
  // dxn_ receives d(final normed hidden); then the final norm's backward seeds dx_.
  const double loss_sum = backend_.cross_entropy(dxn_, xn_final_, w_.lm_head, targets_, n, d, c_.vocab_size, grad_scale);
  backend_.rmsnorm_backward(dx_, dxn_, res_final_, w_.norm, n, d, static_cast<float>(c_.rms_norm_eps), false);
  for (std::int64_t l = c_.num_layers - 1; l >= 0; --l) layer_backward(l, n);
  ++micro_batches_;
  training_ = false;
  return loss_sum;
}

double LoraTrainStep::loss(const TokenBatch& batch) {
  forward(batch, false);
  return backend_.cross_entropy(dxn_, xn_final_, w_.lm_head, targets_, batch.size(), c_.hidden_size, c_.vocab_size,
                                0.0f);
}

void LoraTrainStep::logits(const TokenBatch& batch, float* out) {
  forward(batch, false);
  backend_.logits(out, xn_final_, w_.lm_head, batch.size(), c_.vocab_size, c_.hidden_size);
}

}  // namespace slm
