// backend.h — the Backend seam: the fixed set of ops the training step (train/model/llama_train.*)
// and the optimizer (train/optim) call, implemented once per place the step can run: the CPU
// (cpu_backend.h) and a CUDA device (cuda_backend.h, also run in the emulation harness). The
// model code is the same for both; only this interface knows where memory lives.
//
// Memory. Every pointer an op takes is backend memory (host memory for the CPU, device memory
// for CUDA), taken from a BackendArena the backend allocated, with two exceptions, both host
// arrays the caller owns and the backend keeps its own copies of:
//   - frozen weights: the fp32 arrays of LlamaWeights, registered by the backend's constructor
//     (a CUDA backend holds them as bf16 matrices and fp32 vectors);
//   - mirrored arrays (mirror()): the adapters' parameters and gradients and the optimizer's
//     moments, for as long as a lease on them lives. pull_mirrors() copies the backend's versions
//     back to the host arrays (before a checkpoint is written); push_mirrors() the other way
//     (after one is restored).
// The CPU backend computes in place on the caller's arrays, so both exceptions cost nothing there.
//
// Letters: N tokens, D hidden, F MLP, H query heads, G kv heads, E head_dim, V vocab, r rank.
// Does not hold: the order of the ops (the model), schedules and clipping policy (train/optim).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kernels/op_params.h"
#include "train/lora/adapters.h"

namespace slm {

// One allocation of backend memory, handed out in 64-byte aligned pieces like FloatArena.
class BackendArena {
 public:
  BackendArena() = default;
  BackendArena(std::shared_ptr<void> memory, std::size_t capacity_bytes, std::string name);
  // The next n elements of T (zero-filled by the backend at allocation).
  template <class T>
  T* take(std::size_t n) {
    return static_cast<T*>(take_bytes(n * sizeof(T)));
  }
  std::size_t bytes() const { return capacity_; }
  // Bytes take<T>(n) consumes, alignment included; for sizing arenas.
  static std::size_t padded_bytes(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

 private:
  void* take_bytes(std::size_t bytes);
  std::shared_ptr<void> memory_;
  std::size_t capacity_ = 0, used_ = 0;
  std::string name_;
};

// A micro-batch's token arrays in backend memory (see TokenBatch in train/model/llama_train.h).
struct BatchView {
  const std::int32_t* tokens = nullptr;      // [N]
  const std::int32_t* targets = nullptr;     // [N]
  const std::int32_t* positions = nullptr;   // [N]
  const std::int32_t* cu_seqlens = nullptr;  // [docs + 1]
  const std::int32_t* host_cu_seqlens = nullptr;  // the same, on the host
  std::int64_t n = 0, docs = 0, max_doc_len = 0;
};

// Attention's shape: N packed tokens, H query heads over G kv heads of size E, causal within each
// document of the batch.
struct AttentionShape {
  std::int64_t n = 0, h = 0, g = 0, e = 0;
  float scale = 0;
};

// Dropout on one adapter's input for one micro-batch (LoRA's mask, see llama_train.h).
struct LoraDropout {
  double p = 0;             // 0: none
  std::uint64_t base = 0;   // dropout_base(seed, micro-batch, layer, slot): the hash's stream
  // Set only when a test installed recorded masks: fills mask [n, k] on the host.
  std::function<void(float* mask, std::int64_t n, std::int64_t k)> recorded;
};

// One linear layer `y = x W^T` with its adapter, if any: the LoRA linear op's arguments.
struct LinearCall {
  const float* w = nullptr;            // frozen weight [out, in] (its host array)
  const LoraModule* lora = nullptr;    // or nullptr (a, b, da, db, magnitude: mirrored arrays)
  float* xa = nullptr;                 // [n, r] the adapter's x A^T, kept for the backward
  float* inv_norm = nullptr;           // [out] DoRA's 1 / ||W + s B A|| per row (DoRA only)
  float lora_scale = 1;
  std::int64_t rank = 0;
  std::int64_t n = 0, in = 0, out = 0;
  LoraDropout dropout;
};

// Keeps a mirrored array registered; the last lease of an array unregisters it (before the host
// array goes away). Empty on the CPU.
using MirrorLease = std::shared_ptr<void>;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Sizes the backend's own scratch (allocated here, once) for steps of at most max_tokens tokens
  // on this model with these adapters (nullptr: none). Called by each step built on the backend;
  // the largest sizes win.
  virtual void reserve(const ModelConfig& config, std::int64_t max_tokens, const LoraSettings* lora) = 0;

  // --- memory -----------------------------------------------------------------------------
  // A zero-filled allocation of `bytes`; `name` appears in messages ("training activations").
  virtual BackendArena allocate(std::size_t bytes, std::string name) = 0;
  virtual void upload(void* dst, const void* host, std::size_t bytes) = 0;
  virtual void download(void* host, const void* src, std::size_t bytes) = 0;
  virtual void zero(float* x, std::size_t n) = 0;  // x: backend memory or a mirrored array
  virtual void copy(float* dst, const float* src, std::size_t n) = 0;
  // Registers host[n] (adapters, gradients, moments) and copies it to the backend's version, which
  // the ops then use in its place. Registering the same array again adds a lease and copies again.
  [[nodiscard]] virtual MirrorLease mirror(float* host, std::size_t n, std::string_view name) = 0;
  virtual void pull_mirrors() = 0;
  virtual void push_mirrors() = 0;

  // --- the training step's ops (each the twin of the kernels/cpu op of the same name) ---------
  virtual void embedding_forward(float* out, const float* table, const std::int32_t* ids, std::int64_t n,
                                 std::int64_t d, std::int64_t v) = 0;
  virtual void rmsnorm_forward(float* out, const float* x, const float* w, std::int64_t n, std::int64_t d,
                               float eps) = 0;
  virtual void rmsnorm_backward(float* dx, const float* dy, const float* x, const float* w, std::int64_t n,
                                std::int64_t d, float eps, bool accumulate) = 0;
  // cos/sin [N, E/2] from positions [N] and inv_freq [E/2] (backend memory).
  virtual void rope_tables(float* cos, float* sin, const std::int32_t* positions, const float* inv_freq,
                           std::int64_t n, std::int64_t half) = 0;
  virtual void rope_forward(float* x, const float* cos, const float* sin, std::int64_t n, std::int64_t heads,
                            std::int64_t e) = 0;
  virtual void rope_backward(float* dx, const float* cos, const float* sin, std::int64_t n, std::int64_t heads,
                             std::int64_t e) = 0;
  // y = x W^T (+ the adapter's part; DoRA scales rows). Overwrites y, writes call.xa (and inv_norm).
  virtual void linear_forward(float* y, const float* x, const LinearCall& call) = 0;
  // dx = beta * dx + dy W (+ the adapter's part); adapter gradients accumulate. x: the forward's.
  virtual void linear_backward(float* dx, const float* dy, const float* x, const LinearCall& call, float beta) = 0;
  virtual void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                                 const AttentionShape& shape, const BatchView& batch) = 0;
  virtual void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                  const float* k, const float* v, const float* out, const float* lse,
                                  const AttentionShape& shape, const BatchView& batch) = 0;
  virtual void swiglu_forward(float* out, const float* gate, const float* up, std::int64_t count) = 0;
  virtual void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                               std::int64_t count) = 0;
  virtual void add_inplace(float* x, const float* y, std::int64_t count) = 0;
  // The summed cross-entropy of logits x w^T against targets (returned, on the host), and
  // dx = grad_scale * d(sum)/dx (overwritten). Throws for a target outside [0, V).
  virtual double cross_entropy(float* dx, const float* x, const float* w, const std::int32_t* targets,
                               std::int64_t n, std::int64_t d, std::int64_t v, float grad_scale) = 0;
  // Logits x w^T [N, V], written to host memory (tests, `slmtune logits`).
  virtual void logits(float* host_out, const float* x, const float* w, std::int64_t n, std::int64_t v,
                      std::int64_t d) = 0;

  // --- the optimizer's ops, over mirrored arrays -------------------------------------------
  virtual double grad_norm_squared(const float* g, std::size_t n) = 0;
  virtual void adamw_step(const AdamWParams& p, float* param, const float* grad, float* m, float* v,
                          std::size_t n) = 0;
};

}  // namespace slm
