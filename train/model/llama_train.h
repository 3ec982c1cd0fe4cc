// llama_train.h — one LoRA training micro-batch through a Llama-family model: the forward pass
// keeping the activations the backward needs, the chunked cross-entropy, and the explicit
// backward, which accumulates only adapter gradients (frozen weights get none).
//
// Letters: N tokens of the micro-batch (all rows concatenated), D hidden, F MLP, H query heads,
// G kv heads, E head_dim, V vocab, r adapter rank, L layers.
// Does not hold: the optimizer, schedules or the loop (train/optim, train/trainer).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "train/backend/backend.h"
#include "train/lora/adapters.h"
#include "train/model/llama.h"

namespace slm {

// A micro-batch as one packed token stream: rows and the documents inside them are segments.
struct TokenBatch {
  std::vector<std::int32_t> tokens;      // [N]
  std::vector<std::int32_t> targets;     // [N] the token position t predicts; -100 = no loss
  std::vector<std::int32_t> positions;   // [N] RoPE position, restarting at every segment
  std::vector<std::int32_t> cu_seqlens;  // [segments + 1] segment starts, 0 ... N

  // Appends one segment given HF-style (unshifted) labels: position t predicts labels[t + 1]
  // (-100 = not a target), as transformers' causal-LM loss does.
  void add_segment(std::span<const std::int32_t> ids, std::span<const std::int32_t> labels);
  std::int64_t size() const { return static_cast<std::int64_t>(tokens.size()); }
  std::int64_t target_count() const;
};

class LoraTrainStep {
 public:
  // Activations are sized once for micro-batches of at most max_tokens tokens. adapters may be
  // nullptr: the base model alone (evaluation of the base, tests). With checkpointing, only each
  // layer's input is kept and the backward recomputes the layer's forward from it (one layer's
  // activations in memory instead of L); the numbers are identical either way.
  // backend: where the ops run (it must outlive the step, hold these weights and mirror these
  // adapters' parameters and gradients); nullptr: a CPU backend of the step's own.
  LoraTrainStep(const LlamaWeights& weights, LoraAdapters* adapters, std::int64_t max_tokens,
                bool checkpointing = false, Backend* backend = nullptr);

  // Forward and backward; adapter gradients accumulate (+=) the gradient of
  // grad_scale * (summed cross-entropy). Returns the summed cross-entropy over targets.
  double forward_backward(const TokenBatch& batch, float grad_scale);

  // Forward only (evaluation); returns the summed cross-entropy over targets.
  double loss(const TokenBatch& batch);

  // Forward only; writes logits [N, V] (tests).
  void logits(const TokenBatch& batch, float* out);

  std::size_t activation_bytes() const { return arena_.bytes(); }
  // The bytes of backend memory a step with these arguments allocates for its activations and
  // scratch (lora: nullptr without adapters); memory plans.
  static std::size_t arena_bytes(const ModelConfig& config, const LoraSettings* lora, std::int64_t max_tokens,
                                 bool checkpointing);
  Backend& backend() { return backend_; }

  // Dropout masks (lora.dropout > 0, training only): fills mask [N, K] with 0 or 1 / (1 - p) for
  // one adapter's input. Called in the forward and again in the backward with the same
  // arguments, so it must be deterministic. The default draws from a counter-based hash of
  // (seed, micro-batch number, layer, slot, element); tests install PEFT's recorded masks.
  using MaskProvider = std::function<void(std::int64_t micro_batch, std::int64_t layer, LinearSlot slot,
                                          float* mask, std::int64_t n, std::int64_t k)>;
  void set_mask_provider(MaskProvider provider) { mask_provider_ = std::move(provider); }
  void set_dropout_seed(std::uint64_t seed) { dropout_seed_ = seed; }
  // Training micro-batches run so far: the dropout masks' counter (saved and restored on resume).
  std::int64_t micro_batches() const { return micro_batches_; }
  void set_micro_batches(std::int64_t count) { micro_batches_ = count; }

 private:
  struct LayerActs {
    float *res_in, *xn1, *q, *k, *v, *attn, *lse, *res_mid, *xn2, *gate, *up, *act;
  };
  void forward(const TokenBatch& batch, bool training);
  LinearCall linear(std::int64_t l, LinearSlot slot, const float* w, std::int64_t n) const;
  void layer_forward(std::int64_t l, std::int64_t n);
  void layer_backward(std::int64_t l, std::int64_t n);

  const LlamaWeights& w_;
  const ModelConfig& c_;
  LoraAdapters* adapters_;
  std::int64_t max_tokens_;
  bool checkpointing_;
  std::unique_ptr<Backend> own_backend_;  // when no backend was given
  Backend& backend_;
  MirrorLease params_lease_, grads_lease_;  // the adapters' arrays, on the backend
  std::vector<std::int64_t> module_of_;  // [L * 7] index into adapters_.modules(), or -1
  BackendArena arena_;                   // activations and scratch, in backend memory
  std::vector<LayerActs> acts_;  // with checkpointing all but res_in point at one shared set
  std::vector<float*> xa_;               // per adapter module: [N, r]
  std::vector<float*> inv_norm_;         // per DoRA module: [out] 1 / ||W + s B A|| per row
  float *res_final_, *xn_final_, *cos_, *sin_, *inv_freq_;
  float *dx_, *dxn_, *dq_, *dk_, *dv_, *dattn_, *dgate_, *dup_, *dact_;
  std::int32_t *tokens_, *targets_, *positions_, *cu_seqlens_;  // the batch, uploaded
  BatchView batch_;
  bool training_ = false;
  std::int64_t micro_batches_ = 0;  // training micro-batches run so far (the dropout counter)
  std::uint64_t dropout_seed_ = 0;
  MaskProvider mask_provider_;
};

}  // namespace slm
