// cuda_backend.h — the Backend on one CUDA device: the kernels of kernels/cuda for every op,
// cuBLASLt bf16 GEMMs for the frozen base, all device memory allocated before the first step.
//
// Precision: activations, gradients, adapters and optimizer state are fp32 on the device, as on
// the CPU. The frozen matrices (the embedding table included) are kept in bf16; the base GEMMs, attention and the lm_head product
// read their operands rounded to bf16 (casts into reusable scratch) and accumulate in fp32, so a
// step agrees with the CPU backend's to bf16 accuracy, not bit for bit. LoRA's products read fp32.
//
// Built twice from one source: against the CUDA toolkit (slm_backend_cuda, for GPUs) and against
// the emulation harness's stand-ins (slm_backend_cuda_emu, which runs the same code on the CPU in
// tests; see README, "CUDA kernels without a GPU").
// Does not hold: DoRA, recorded dropout masks, head dims other than 64/128/256, ranks above 128
// (each refused with a message), several GPUs, a quantized embedding table or lm_head (kept in
// bf16: the lookup converts rows to fp32).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "train/backend/backend.h"
#include "train/model/llama.h"

namespace slm {

// A layer matrix the backend keeps quantized on the device and dequantizes to bf16 right before
// each product: its GGML block type number (Q4_0/1, Q5_0/1, Q8_0, Q2_K..Q6_K) and its blocks in
// HF row order, as checkpoints/quantized_matrices.h reads them. Dequantized, it must equal the
// fp32 weight the backend is given (the loader's exact dequantization), so the step's numbers
// are those of the bf16 copy it replaces, bit for bit.
struct QuantizedSource {
  std::uint32_t ggml_type = 0;
  const void* blocks = nullptr;
  std::size_t bytes = 0;
};

struct CudaBackendOptions {
  int device = 0;
  bool small_tiles = false;  // the kernels' small tile shapes (many blocks on tiny shapes: tests)
  // Layer matrices to keep quantized, by HF tensor name; the others are kept in bf16.
  std::map<std::string, QuantizedSource> quantized;
};

// CUDA devices the runtime sees (0 when there is no driver or no device).
int visible_cuda_devices();

// Uploads the frozen weights (bf16 matrices, fp32 vectors and embedding table) to the device;
// throws slm::Error when no device is visible or the model is one the kernels do not cover.
std::unique_ptr<Backend> make_cuda_backend(const LlamaWeights& weights, const CudaBackendOptions& options = {});

}  // namespace slm
