// llama.h — the Llama-family model (SmolLM2, Llama 3.x): frozen weights in one fp32 arena, and
// a forward pass with a KV cache for scoring and generation.
//
// Letters: V vocab, D hidden, F MLP, L layers, H query heads, G kv heads, E head_dim,
// T tokens of this call, S tokens in the cache after it, C cache capacity.
// Does not hold: file reading (checkpoints/model_loader.*), training (backward, LoRA).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "train/core/arena.h"
#include "train/model/config.h"

namespace slm {

struct LlamaLayerWeights {
  float* input_layernorm = nullptr;           // [D]
  float* q_proj = nullptr;                    // [H*E, D]
  float* k_proj = nullptr;                    // [G*E, D]
  float* v_proj = nullptr;                    // [G*E, D]
  float* o_proj = nullptr;                    // [D, H*E]
  float* post_attention_layernorm = nullptr;  // [D]
  float* gate_proj = nullptr;                 // [F, D]
  float* up_proj = nullptr;                   // [F, D]
  float* down_proj = nullptr;                 // [D, F]
};

struct LlamaWeights {
  ModelConfig config;
  FloatArena arena;  // every frozen weight, fp32
  float* embed_tokens = nullptr;  // [V, D]
  std::vector<LlamaLayerWeights> layers;
  float* norm = nullptr;     // [D]
  float* lm_head = nullptr;  // [V, D]; == embed_tokens when tied

  explicit LlamaWeights(const ModelConfig& config);
  LlamaWeights(const LlamaWeights&) = delete;
  LlamaWeights& operator=(const LlamaWeights&) = delete;

  // Every weight tensor with its HF name and shape, in HF's order; lm_head only when untied.
  void for_each(const std::function<void(const std::string& name, const std::vector<std::int64_t>& shape,
                                         float* data)>& visit) const;
  std::int64_t num_parameters() const;
};

// RoPE inverse frequencies [E/2] as transformers computes them (default, llama3, linear).
std::vector<float> rope_inv_freq(const ModelConfig& config);

// A forward pass with its own KV cache and scratch, sized once for `capacity` tokens of context
// and at most `max_chunk` tokens per call.
class LlamaRunner {
 public:
  LlamaRunner(const LlamaWeights& weights, std::int64_t capacity, std::int64_t max_chunk);

  // Runs `tokens` at positions [position(), position() + T) and appends them to the cache.
  // logits: [T, V] if all_positions, else [V] for the last token. Overwrites logits.
  void forward(std::span<const std::int32_t> tokens, float* logits, bool all_positions);
  std::int64_t position() const { return position_; }
  std::int64_t capacity() const { return capacity_; }
  std::int64_t vocab_size() const { return c_.vocab_size; }
  void reset() { position_ = 0; }

 private:
  void layer_forward(std::int64_t l, std::int64_t t);

  const LlamaWeights& w_;
  const ModelConfig& c_;
  std::int64_t capacity_, max_chunk_, position_ = 0;
  std::vector<float> inv_freq_;  // [E/2]
  FloatArena arena_;             // cache and scratch
  float* k_cache_ = nullptr;     // [L, C, G*E]
  float* v_cache_ = nullptr;     // [L, C, G*E]
  float* x_ = nullptr;           // [max_chunk, D] residual stream
  float* xn_ = nullptr;          // [max_chunk, D] normed
  float* q_ = nullptr;           // [max_chunk, H*E]
  float* attn_ = nullptr;        // [max_chunk, H*E]
  float* gate_ = nullptr;        // [max_chunk, F]
  float* up_ = nullptr;          // [max_chunk, F]
  float* cos_ = nullptr;         // [max_chunk, E/2]
  float* sin_ = nullptr;         // [max_chunk, E/2]
  float* scores_ = nullptr;      // [threads, C]
};

}  // namespace slm
