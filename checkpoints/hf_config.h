// hf_config.h — a Hugging Face config.json to a ModelConfig and back.
//
// Holds: read_hf_config for the Llama family (model_type "llama": SmolLM2, Llama 3.x), from
// transformers 4.x files (rope_theta and rope_scaling at the top level) and 5.x files
// (rope_parameters holding rope_theta and the scaling); hf_config_json / write_hf_config, which
// write both forms so transformers 4 and 5 (and the tools reading either) load the file.
// Does not hold: GGUF metadata (model_loader.*), tokenizer settings (tokenizer_config.json,
// checkpoints/export_hf.*), weights (safetensors.h).
#pragma once

#include <filesystem>

#include "checkpoints/dtype.h"
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

// config.json text for `config` (LlamaForCausalLM) with weights stored as `dtype` (F32, F16 or
// BF16: "dtype" / "torch_dtype"). read_hf_config of the text gives `config` back, except that
// per-frequency RoPE factors (a Llama 3.1+ GGUF's rope_freqs.weight) are written as the llama3
// rope scaling they were made from: factor = the largest factor, low_freq_factor 1,
// high_freq_factor 4, original_max_position_embeddings 8192 (Llama 3.1's values, which llama.cpp's
// converter assumes), checked to reproduce every factor; factors that do not fit are an error,
// as config.json cannot express them. Throws slm::Error naming `source` for those and for other
// dtypes.
std::string hf_config_json(const ModelConfig& config, DType dtype, const std::string& source);

// Writes hf_config_json(config, dtype, ...) to `path` atomically.
void write_hf_config(const ModelConfig& config, const std::filesystem::path& path, DType dtype);

// `config` with rope_freq_factors replaced by the llama3 scaling they encode (see hf_config_json);
// `config` itself when it has none.
ModelConfig rope_scaling_for_hf(const ModelConfig& config, const std::string& source);

}  // namespace slm
