// cpu_backend.cpp — the CPU Backend: thin calls into kernels/cpu, plus LoRA dropout masks and
// DoRA, which the CPU does on the host between those calls.
#include "train/backend/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/adamw.h"
#include "kernels/cpu/attention_backward.h"
#include "kernels/cpu/bf16_round.h"
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cpu/grad_norm.h"
#include "kernels/cpu/layers.h"
#include "kernels/cpu/layers_backward.h"
#include "kernels/cpu/lora.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_backward.h"
#include "kernels/dropout_hash.h"
#include "train/core/error.h"
#include "train/lora/merge.h"

namespace slm {
namespace {

// x rounded to bf16 (nearest even) into out; returns out.
const float* rounded_bf16(const float* x, std::int64_t n, std::vector<float>& out) {
  SLM_CHECK(static_cast<std::int64_t>(out.size()) >= n, "internal: bf16 rounding buffer not reserved");
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = cpu::round_to_bf16(x[i]);
  return out.data();
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options) : options_(options) {}

  std::string_view name() const override { return "cpu"; }

  void reserve(const ModelConfig& c, std::int64_t max_tokens, const LoraSettings* lora) override {
    const std::int64_t n = max_tokens, d = c.hidden_size, f = c.intermediate_size, h = c.num_heads;
    const std::int64_t qd = c.num_heads * c.head_dim, r = lora ? lora->rank : 0;
    const std::int64_t widest = std::max({d, f, qd});
    ce_chunk_ = std::max(ce_chunk_, std::min<std::int64_t>(max_tokens, 256));
    grow(attn_scratch_, std::max(static_cast<std::int64_t>(omp_get_max_threads()) * n, n * h));
    grow(ce_scratch_, ce_chunk_ * (c.vocab_size + d + 1));
    grow(lora_g_, n * r);
    if (options_.bf16_operands)
      for (std::vector<float>* b : {&round_x_, &round_q_, &round_k_, &round_v_, &round_dout_})
        grow(*b, n * std::max(widest, static_cast<std::int64_t>(c.num_kv_heads * c.head_dim)));
    if (lora && lora->dropout > 0) {
      grow(mask_, n * widest);
      grow(masked_x_, n * widest);
    }
    if (lora && lora->use_dora) {
      std::int64_t max_out = 0, max_weight = 0;
      for (std::size_t s = 0; s < k_num_slots; ++s) {
        const auto [in, out] = slot_dims(c, static_cast<LinearSlot>(s));
        max_out = std::max(max_out, out);
        max_weight = std::max(max_weight, out * (in + r));
      }
      grow(dora_work_, max_weight);
      grow(dora_z_, n * max_out);
      grow(dora_dz_, n * max_out);
    }
  }

  BackendArena allocate(std::size_t bytes, std::string name) override {
    const std::size_t size = BackendArena::padded_bytes(std::max<std::size_t>(bytes, 64));
    void* p = std::aligned_alloc(64, size);
    if (!p)
      SLM_FAIL("cannot allocate ", size >> 20, " MiB for ", name,
               "; free memory or choose a smaller model or sequence length");
    std::memset(p, 0, size);
    return BackendArena(std::shared_ptr<void>(p, std::free), size, std::move(name));
  }
  void upload(void* dst, const void* host, std::size_t bytes) override { std::memcpy(dst, host, bytes); }
  void download(void* host, const void* src, std::size_t bytes) override { std::memcpy(host, src, bytes); }
  void zero(float* x, std::size_t n) override { std::memset(x, 0, n * sizeof(float)); }
  void copy(float* dst, const float* src, std::size_t n) override { std::memcpy(dst, src, n * sizeof(float)); }
  MirrorLease mirror(float*, std::size_t, std::string_view) override { return nullptr; }
  void pull_mirrors() override {}
  void push_mirrors() override {}

  void embedding_forward(float* out, const float* table, const std::int32_t* ids, std::int64_t n, std::int64_t d,
                         std::int64_t v) override {
    cpu::embedding_forward(out, table, ids, n, d, v);
  }
  void rmsnorm_forward(float* out, const float* x, const float* w, std::int64_t n, std::int64_t d,
                       float eps) override {
    cpu::rmsnorm_forward(out, x, w, n, d, eps);
  }
  void rmsnorm_backward(float* dx, const float* dy, const float* x, const float* w, std::int64_t n, std::int64_t d,
                        float eps, bool accumulate) override {
    cpu::rmsnorm_backward(dx, dy, x, w, n, d, eps, accumulate);
  }
  void rope_tables(float* cos, float* sin, const std::int32_t* positions, const float* inv_freq, std::int64_t n,
                   std::int64_t half) override {
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < half; ++j) {
        const float angle = static_cast<float>(positions[i]) * inv_freq[j];
        cos[i * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin[i * half + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
  }
  void rope_forward(float* x, const float* cos, const float* sin, std::int64_t n, std::int64_t heads,
                    std::int64_t e) override {
    cpu::rope_forward(x, cos, sin, n, heads, e);
  }
  void rope_backward(float* dx, const float* cos, const float* sin, std::int64_t n, std::int64_t heads,
                     std::int64_t e) override {
    cpu::rope_backward(dx, cos, sin, n, heads, e);
  }

  void linear_forward(float* y, const float* x, const LinearCall& call) override {
    cpu::matmul_nt(y, operand(x, call.n * call.in, round_x_), call.w, call.n, call.out, call.in);
    if (!call.lora) return;
    const LoraModule& mod = *call.lora;
    cpu::lora_forward(y, x, mod.a, mod.b, call.lora_scale, call.xa, call.n, call.out, call.in, call.rank,
                      dropout_mask(call), masked_x_.data());
    if (!mod.magnitude) return;
    // DoRA: y = m / ||W + s B A||_row * (W x + s B A x); the norm is a constant for the backward.
    dora_inverse_row_norms(call.w, mod, call.rank, call.lora_scale, dora_work_.data(), call.inv_norm);
    const std::int64_t n = call.n, out = call.out;
#pragma omp parallel for schedule(static) if (n * out > 65536)
    for (std::int64_t t = 0; t < n; ++t)
      for (std::int64_t j = 0; j < out; ++j) y[t * out + j] *= mod.magnitude[j] * call.inv_norm[j];
  }

  void linear_backward(float* dx, const float* dy, const float* x, const LinearCall& call, float beta) override {
    if (call.lora && call.lora->magnitude) dy = dora_backward(dy, x, call);
    cpu::matmul_nn(dx, operand(dy, call.n * call.out, round_x_), call.w, call.n, call.in, call.out, beta);
    if (!call.lora) return;
    const LoraModule& mod = *call.lora;
    cpu::lora_backward(mod.da, mod.db, dx, dy, x, mod.a, mod.b, call.xa, call.lora_scale, call.n, call.out, call.in,
                       call.rank, lora_g_.data(), dropout_mask(call), masked_x_.data());
  }

  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                         const AttentionShape& s, const BatchView& b) override {
    cpu::attention_forward_train(out, lse, operand(q, s.n * s.h * s.e, round_q_), operand(k, s.n * s.g * s.e, round_k_),
                                 operand(v, s.n * s.g * s.e, round_v_), s.n, s.h, s.g, s.e, s.scale, b.host_cu_seqlens,
                                 b.docs, attn_scratch_.data(), 0, probabilities());
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                          const float* v, const float* out, const float* lse, const AttentionShape& s,
                          const BatchView& b) override {
    cpu::attention_backward(dq, dk, dv, operand(dout, s.n * s.h * s.e, round_dout_),
                            operand(q, s.n * s.h * s.e, round_q_), operand(k, s.n * s.g * s.e, round_k_),
                            operand(v, s.n * s.g * s.e, round_v_), out, lse, s.n, s.h, s.g, s.e, s.scale,
                            b.host_cu_seqlens, b.docs, attn_scratch_.data(), 0, probabilities());
  }
  void swiglu_forward(float* out, const float* gate, const float* up, std::int64_t count) override {
    cpu::swiglu_forward(out, gate, up, count);
  }
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                       std::int64_t count) override {
    cpu::swiglu_backward(dgate, dup, dout, gate, up, count);
  }
  void add_inplace(float* x, const float* y, std::int64_t count) override { cpu::add_inplace(x, y, count); }
  double cross_entropy(float* dx, const float* x, const float* w, const std::int32_t* targets, std::int64_t n,
                       std::int64_t d, std::int64_t v, float grad_scale) override {
    double loss_sum = 0;
    cpu::cross_entropy_forward_backward(&loss_sum, dx, operand(x, n * d, round_x_), w, targets, n, d, v, ce_chunk_,
                                        grad_scale, ce_scratch_.data());
    return loss_sum;
  }
  void logits(float* host_out, const float* x, const float* w, std::int64_t n, std::int64_t v,
              std::int64_t d) override {
    cpu::matmul_nt(host_out, x, w, n, v, d);
  }

  double grad_norm_squared(const float* g, std::size_t n) override {
    return cpu::grad_norm_squared(g, static_cast<std::int64_t>(n));
  }
  void adamw_step(const AdamWParams& p, float* param, const float* grad, float* m, float* v,
                  std::size_t n) override {
    cpu::adamw_step(p, param, grad, m, v, n);
  }

 private:
  cpu::AttentionProbabilities probabilities() const {
    return options_.bf16_operands ? cpu::AttentionProbabilities::bf16 : cpu::AttentionProbabilities::fp32;
  }

  // x, or (bf16_operands) x rounded to bf16 in `buffer`.
  const float* operand(const float* x, std::int64_t n, std::vector<float>& buffer) const {
    return options_.bf16_operands ? rounded_bf16(x, n, buffer) : x;
  }

  static void grow(std::vector<float>& buffer, std::int64_t n) {
    if (static_cast<std::int64_t>(buffer.size()) < n) buffer.assign(static_cast<std::size_t>(n), 0.0f);
  }

  // The adapter's dropout mask [n, in] for this call, or nullptr without dropout.
  const float* dropout_mask(const LinearCall& call) {
    const LoraDropout& dropout = call.dropout;
    if (dropout.p <= 0) return nullptr;
    const std::int64_t count = call.n * call.in;
    SLM_CHECK(static_cast<std::int64_t>(mask_.size()) >= count, "internal: dropout mask not reserved");
    float* mask = mask_.data();
    if (dropout.recorded) {
      dropout.recorded(mask, call.n, call.in);
      return mask;
    }
    const float keep = static_cast<float>(1.0 / (1.0 - dropout.p));
    const std::uint64_t threshold = dropout_threshold(dropout.p);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < count; ++i)
      mask[i] = dropout_drops(dropout.base, static_cast<std::uint64_t>(i), threshold) ? 0.0f : keep;
    return mask;
  }

  // DoRA's part of the backward, given dy of y = c * z (c = m * inv_norm per output,
  // z = W x + s B A x): dm += sum_t dy * z * inv_norm (accumulates); returns dz = dy * c.
  const float* dora_backward(const float* dy, const float* x, const LinearCall& call) {
    const LoraModule& mod = *call.lora;
    const std::int64_t n = call.n, out = call.out;
    const float* inv = call.inv_norm;
    float* z = dora_z_.data();
    float* dz = dora_dz_.data();
    cpu::matmul_nt(z, x, call.w, n, out, call.in);  // z, recomputed rather than kept
    cpu::lora_forward(z, x, mod.a, mod.b, call.lora_scale, call.xa, n, out, call.in, call.rank, dropout_mask(call),
                      masked_x_.data());
    for (std::int64_t j = 0; j < out; ++j) {
      float sum = 0.0f;
      for (std::int64_t t = 0; t < n; ++t) sum += dy[t * out + j] * z[t * out + j];
      mod.dmagnitude[j] += sum * inv[j];
    }
#pragma omp parallel for schedule(static) if (n * out > 65536)
    for (std::int64_t t = 0; t < n; ++t)
      for (std::int64_t j = 0; j < out; ++j) dz[t * out + j] = dy[t * out + j] * mod.magnitude[j] * inv[j];
    return dz;
  }

  CpuBackendOptions options_;
  std::int64_t ce_chunk_ = 1;
  std::vector<float> round_x_, round_q_, round_k_, round_v_, round_dout_;  // bf16_operands only
  std::vector<float> attn_scratch_, ce_scratch_, lora_g_, mask_, masked_x_, dora_work_, dora_z_, dora_dz_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

}  // namespace slm
