// hf_config.h — reading a Hugging Face config.json into a ModelConfig.
//
// Holds: read_hf_config for the Llama family (model_type "llama": SmolLM2, Llama 3.x), from
// transformers 4.x files (rope_theta and rope_scaling at the top level) and 5.x files
// (rope_parameters holding rope_theta and the scaling). Does not hold: GGUF metadata
// (gguf_model.*), tokenizer settings (tokenizer_config.json, data/), weights (safetensors.h).
#pragma once

#include <filesystem>

#include "train/model/config.h"

namespace slm {

// Reads and validates `config_json` (a file, or a model directory holding config.json).
// Required keys: model_type, vocab_size, hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads. Defaults as transformers' LlamaConfig: num_key_value_heads = heads,
// head_dim = hidden / heads, rms_norm_eps 1e-6, rope_theta 10000, max_position_embeddings 2048,
// tie_word_embeddings false; bos/eos ids unknown (-1, empty) when absent or null.
// Features our Llama model lacks (attention_bias, mlp_bias, hidden_act other than silu, rope types
// other than default/llama3/linear, partial rotary) are errors, never silently ignored.
// Errors name the file, the line of the key, the key, and what to do.
ModelConfig read_hf_config(const std::filesystem::path& config_json);

}  // namespace slm
