// quantized_matrices.h — the quantized blocks of a GGUF model's layer matrices as the file stores
// them, for a backend that keeps the frozen base quantized and dequantizes each matrix right
// before its product (train/backend/cuda_backend.h). Rows are in Hugging Face order: llama.cpp's
// q/k row permutation is undone by moving whole rows of blocks (quantization blocks never cross a
// row), so dequantizing a matrix gives exactly the weights load_llama_model returns.
// Does not hold: the embedding table and lm_head (backends keep those dense), F32/F16/BF16
// matrices, types no backend dequantizes (Q8_1, Q8_K, IQ*).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "checkpoints/gguf.h"
#include "train/model/config.h"

namespace slm {

struct QuantizedMatrix {
  GgmlType type = GgmlType::Q8_0;
  std::int64_t rows = 0, cols = 0;     // HF shape [out, in]
  std::vector<std::uint8_t> blocks;    // rows * (cols / block elements) blocks, row by row
};

// The seven matrices of every layer that are Q4_0/1, Q5_0/1, Q8_0 or Q2_K..Q6_K in `model`, by HF
// tensor name ("model.layers.3.self_attn.q_proj.weight"). Empty for safetensors models and
// GGUF files without such matrices.
std::map<std::string, QuantizedMatrix> load_quantized_matrices(const std::filesystem::path& model,
                                                               const ModelConfig& config);
// The same matrices' sizes in bytes, without copying them (memory plans), and their types.
struct QuantizedSizes {
  std::map<std::string, std::int64_t> bytes;  // by HF tensor name
  std::string types;                          // "Q4_1", or "Q4_K, Q6_K" when mixed
};
QuantizedSizes quantized_matrix_bytes(const std::filesystem::path& model, const ModelConfig& config);

}  // namespace slm
