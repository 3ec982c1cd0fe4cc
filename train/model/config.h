// config.h — the architecture of a loaded model, whichever file it came from.
//
// Holds: ModelConfig (Llama family now; fields for other families are added with them) and the
// RoPE scaling variants. Filled from an HF config.json (checkpoints/hf_config.*) or from GGUF
// metadata (checkpoints/gguf_model.*). Does not hold: weights, tokenizer.
//
// Letters used across the model code: V vocab, D hidden size, F intermediate (MLP) size,
// L layers, H query heads, G key/value heads (GQA groups), E head_dim, T tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slm {

enum class RopeScaling { None, Llama3, Linear };

struct ModelConfig {
  std::string architecture = "llama";  // HF model_type: llama (SmolLM2, Llama 3.x), later others
  std::int64_t vocab_size = 0;          // V
  std::int64_t hidden_size = 0;         // D
  std::int64_t intermediate_size = 0;   // F
  std::int64_t num_layers = 0;          // L
  std::int64_t num_heads = 0;           // H
  std::int64_t num_kv_heads = 0;        // G (H % G == 0)
  std::int64_t head_dim = 0;            // E (may differ from D / H)
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  std::int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  // rope_scaling (Llama 3.x "llama3" type, or "linear")
  RopeScaling rope_scaling = RopeScaling::None;
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  std::int64_t rope_original_max_position = 8192;
  // llama.cpp's form of Llama 3.1+ scaling (a GGUF's rope_freqs.weight): per-frequency divisors of
  // the inverse frequencies, [E/2]; empty = none.
  std::vector<float> rope_freq_factors;
  // Token ids from the config (the tokenizer may carry its own; -1 = unknown).
  std::int64_t bos_token_id = -1;
  std::vector<std::int64_t> eos_token_ids;

  // Throws slm::Error naming `source` when the numbers are inconsistent (H % G, E, sizes > 0).
  void validate(const std::string& source) const;
};

}  // namespace slm
