// model_loader.h — opens a model file the way a user names it and returns fp32 weights.
//
// Accepts a GGUF file, a .safetensors file (config.json beside it), or a Hugging Face model
// directory (config.json + model.safetensors or shards). Quantized GGUF weights are dequantized
// at load (exactly as PyPI gguf does), and llama.cpp's q/k row permutation is undone, so the
// weights are in HF's layout whatever the source. Memory: 4 bytes per parameter
// (SmolLM2-135M: 0.54 GB; an 8B model: 32 GB).
// Does not hold: the tokenizer (data/tokenizer/load.*) or the forward pass (train/model).
#pragma once

#include <filesystem>
#include <memory>

#include "train/model/llama.h"

namespace slm {

class GgufFile;

// Architecture from GGUF metadata (llama.* keys; general.architecture must be llama).
ModelConfig config_from_gguf(const GgufFile& file);

// Reads the config and every weight; throws slm::Error naming the file and tensor for a missing
// tensor, a shape that disagrees with the config, an unexpected tensor, or an unsupported type.
std::unique_ptr<LlamaWeights> load_llama_model(const std::filesystem::path& path);

// The architecture alone, without reading weights (exports that need only the shapes). GGUF
// rope_freqs factors are not read.
ModelConfig load_model_config(const std::filesystem::path& path);

}  // namespace slm
