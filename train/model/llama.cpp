// llama.cpp — Llama-family weights layout and the KV-cached forward pass on the CPU ops.
#include "train/model/llama.h"

#include <omp.h>

#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/layers.h"
#include "kernels/cpu/matmul.h"
#include "train/core/error.h"

namespace slm {
namespace {

using Shape = std::vector<std::int64_t>;

// Every tensor of the model, in HF order, as (name, shape, reference to its pointer).
template <class Visit>
void visit_tensors(const ModelConfig& c, float*& embed_tokens, std::vector<LlamaLayerWeights>& layers,
                   float*& norm, float*& lm_head, Visit&& visit) {
  const std::int64_t d = c.hidden_size, f = c.intermediate_size, qd = c.num_heads * c.head_dim,
                     kvd = c.num_kv_heads * c.head_dim;
  visit("model.embed_tokens.weight", Shape{c.vocab_size, d}, embed_tokens);
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LlamaLayerWeights& l = layers[static_cast<std::size_t>(i)];
    visit(p + "input_layernorm.weight", Shape{d}, l.input_layernorm);
    visit(p + "self_attn.q_proj.weight", Shape{qd, d}, l.q_proj);
    visit(p + "self_attn.k_proj.weight", Shape{kvd, d}, l.k_proj);
    visit(p + "self_attn.v_proj.weight", Shape{kvd, d}, l.v_proj);
    visit(p + "self_attn.o_proj.weight", Shape{d, qd}, l.o_proj);
    visit(p + "post_attention_layernorm.weight", Shape{d}, l.post_attention_layernorm);
    visit(p + "mlp.gate_proj.weight", Shape{f, d}, l.gate_proj);
    visit(p + "mlp.up_proj.weight", Shape{f, d}, l.up_proj);
    visit(p + "mlp.down_proj.weight", Shape{d, f}, l.down_proj);
  }
  visit("model.norm.weight", Shape{d}, norm);
  if (!c.tie_word_embeddings) visit("lm_head.weight", Shape{c.vocab_size, d}, lm_head);
}

std::int64_t elements(const Shape& s) {
  std::int64_t n = 1;
  for (std::int64_t x : s) n *= x;
  return n;
}

std::size_t arena_floats(const ModelConfig& c) {
  std::vector<LlamaLayerWeights> layers(static_cast<std::size_t>(c.num_layers));
  float *embed = nullptr, *norm = nullptr, *head = nullptr;
  std::size_t total = 0;
  visit_tensors(c, embed, layers, norm, head, [&](const std::string&, const Shape& shape, float*&) {
    total += FloatArena::padded(static_cast<std::size_t>(elements(shape)));
  });
  return total;
}

}  // namespace

LlamaWeights::LlamaWeights(const ModelConfig& cfg)
    : config(cfg), arena(arena_floats(cfg), "frozen weights"), layers(static_cast<std::size_t>(cfg.num_layers)) {
  visit_tensors(config, embed_tokens, layers, norm, lm_head, [&](const std::string&, const Shape& shape, float*& ptr) {
    ptr = arena.take(static_cast<std::size_t>(elements(shape)));
  });
  if (config.tie_word_embeddings) lm_head = embed_tokens;
}

void LlamaWeights::for_each(
    const std::function<void(const std::string&, const std::vector<std::int64_t>&, float*)>& visit) const {
  auto& self = const_cast<LlamaWeights&>(*this);  // the visitor gets pointers, not ownership
  visit_tensors(config, self.embed_tokens, self.layers, self.norm, self.lm_head,
                [&](const std::string& name, const Shape& shape, float*& ptr) { visit(name, shape, ptr); });
}

std::int64_t LlamaWeights::num_parameters() const {
  std::int64_t n = 0;
  for_each([&](const std::string&, const Shape& shape, float*) { n += elements(shape); });
  return n;
}

std::vector<float> rope_inv_freq(const ModelConfig& c) {
  const std::int64_t half = c.head_dim / 2;
  std::vector<float> inv(static_cast<std::size_t>(half));
  // float32 throughout, in transformers' order of operations.
  for (std::int64_t i = 0; i < half; ++i)
    inv[i] = 1.0f / std::pow(static_cast<float>(c.rope_theta),
                             static_cast<float>(2 * i) / static_cast<float>(c.head_dim));
  if (c.rope_scaling == RopeScaling::Linear) {
    for (float& f : inv) f /= static_cast<float>(c.rope_factor);
  } else if (c.rope_scaling == RopeScaling::Llama3) {
    const float factor = static_cast<float>(c.rope_factor);
    const float low = static_cast<float>(c.rope_low_freq_factor), high = static_cast<float>(c.rope_high_freq_factor);
    const float old_len = static_cast<float>(c.rope_original_max_position);
    const float low_wavelen = old_len / low, high_wavelen = old_len / high;
    for (float& f : inv) {
      const float wavelen = 2.0f * static_cast<float>(M_PI) / f;
      float scaled = wavelen > low_wavelen ? f / factor : f;
      const float smooth = (old_len / wavelen - low) / (high - low);
      const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      if (medium) scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
      f = scaled;
    }
  }
  if (!c.rope_freq_factors.empty()) {
    SLM_CHECK(c.rope_freq_factors.size() == inv.size(), "rope_freqs has ", c.rope_freq_factors.size(),
              " factors but head_dim / 2 is ", inv.size(), "; the file is inconsistent");
    for (std::size_t i = 0; i < inv.size(); ++i) inv[i] /= c.rope_freq_factors[i];
  }
  return inv;
}

LlamaRunner::LlamaRunner(const LlamaWeights& weights, std::int64_t capacity, std::int64_t max_chunk)
    : w_(weights), c_(weights.config), capacity_(capacity), max_chunk_(max_chunk), inv_freq_(rope_inv_freq(c_)) {
  const std::int64_t kvd = c_.num_kv_heads * c_.head_dim, qd = c_.num_heads * c_.head_dim;
  const std::int64_t threads = omp_get_max_threads();
  const std::int64_t sizes[] = {c_.num_layers * capacity * kvd, c_.num_layers * capacity * kvd, max_chunk * c_.hidden_size,
                                max_chunk * c_.hidden_size, max_chunk * qd, max_chunk * qd,
                                max_chunk * c_.intermediate_size, max_chunk * c_.intermediate_size,
                                max_chunk * (c_.head_dim / 2), max_chunk * (c_.head_dim / 2), threads * capacity};
  std::size_t total = 0;
  for (std::int64_t n : sizes) total += FloatArena::padded(static_cast<std::size_t>(n));
  arena_ = FloatArena(total, "KV cache and activations");
  float** targets[] = {&k_cache_, &v_cache_, &x_, &xn_, &q_, &attn_, &gate_, &up_, &cos_, &sin_, &scores_};
  for (std::size_t i = 0; i < std::size(targets); ++i) *targets[i] = arena_.take(static_cast<std::size_t>(sizes[i]));
}

void LlamaRunner::layer_forward(std::int64_t l, std::int64_t t) {
  const LlamaLayerWeights& lw = w_.layers[static_cast<std::size_t>(l)];
  const std::int64_t d = c_.hidden_size, e = c_.head_dim, h = c_.num_heads, g = c_.num_kv_heads;
  const std::int64_t f = c_.intermediate_size, kvd = g * e;
  const float eps = static_cast<float>(c_.rms_norm_eps);
  float* k_cache = k_cache_ + l * capacity_ * kvd;  // [C, G*E]
  float* v_cache = v_cache_ + l * capacity_ * kvd;
  float* k_new = k_cache + position_ * kvd;  // [T, G*E]
  float* v_new = v_cache + position_ * kvd;

  cpu::rmsnorm_forward(xn_, x_, lw.input_layernorm, t, d, eps);
  cpu::matmul_nt(q_, xn_, lw.q_proj, t, h * e, d);
  cpu::matmul_nt(k_new, xn_, lw.k_proj, t, kvd, d);
  cpu::matmul_nt(v_new, xn_, lw.v_proj, t, kvd, d);
  cpu::rope_forward(q_, cos_, sin_, t, h, e);
  cpu::rope_forward(k_new, cos_, sin_, t, g, e);
  cpu::attention_forward(attn_, q_, k_cache, v_cache, t, position_ + t, h, g, e, kvd,
                         1.0f / std::sqrt(static_cast<float>(e)), scores_);
  cpu::matmul_nt(x_, attn_, lw.o_proj, t, d, h * e, 1.0f);  // residual: x += attn o_proj^T

  cpu::rmsnorm_forward(xn_, x_, lw.post_attention_layernorm, t, d, eps);
  cpu::matmul_nt(gate_, xn_, lw.gate_proj, t, f, d);
  cpu::matmul_nt(up_, xn_, lw.up_proj, t, f, d);
  cpu::swiglu_forward(gate_, gate_, up_, t * f);
  cpu::matmul_nt(x_, gate_, lw.down_proj, t, d, f, 1.0f);  // residual: x += mlp
}

void LlamaRunner::forward(std::span<const std::int32_t> tokens, float* logits, bool all_positions) {
  const auto total = static_cast<std::int64_t>(tokens.size());
  const std::int64_t d = c_.hidden_size, half = c_.head_dim / 2;
  SLM_CHECK(position_ + total <= capacity_, "the context is full: ", position_, " + ", total, " tokens exceed ",
            capacity_, "; use a shorter prompt or fewer new tokens");
  for (std::int64_t start = 0; start < total; start += max_chunk_) {
    const std::int64_t t = std::min(max_chunk_, total - start);
    cpu::embedding_forward(x_, w_.embed_tokens, tokens.data() + start, t, d, c_.vocab_size);
    for (std::int64_t i = 0; i < t; ++i) {
      const float pos = static_cast<float>(position_ + i);
      for (std::int64_t j = 0; j < half; ++j) {
        const float angle = pos * inv_freq_[j];
        cos_[i * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin_[i * half + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
    }
    for (std::int64_t l = 0; l < c_.num_layers; ++l) layer_forward(l, t);
    cpu::rmsnorm_forward(xn_, x_, w_.norm, t, d, static_cast<float>(c_.rms_norm_eps));
    if (all_positions) {
      cpu::matmul_nt(logits + start * c_.vocab_size, xn_, w_.lm_head, t, c_.vocab_size, d);
    } else if (start + t == total) {
      cpu::matmul_nt(logits, xn_ + (t - 1) * d, w_.lm_head, 1, c_.vocab_size, d);
    }
    position_ += t;
  }
}

}  // namespace slm
