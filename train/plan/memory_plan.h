// memory_plan.h — the CUDA backend's device memory for a recipe, allocation by allocation and by
// category: what `slmtune train --plan` prints. It is computed from the same sizing functions the
// backend (train/backend/cuda_backend.cpp), the training step (LoraTrainStep::arena_bytes) and the
// kernels (kernels/cuda/workspace_sizes.h) allocate by, all before the first step (nothing is
// allocated inside a step), so it equals what the backend allocates; test_cuda_step checks that
// in the emulation harness, byte for byte.
//
// Categories: frozen weights (bf16 matrices or the layer matrices' quantized blocks plus one bf16
// scratch they are dequantized into, fp32 norms), adapters, gradients and AdamW moments (fp32), activations (fp32, kept per layer, and
// the step's shared buffers), the backend's work buffers (bf16 copies of GEMM and attention
// operands, LoRA and attention backward scratch), the chunked cross-entropy's workspace, the
// cuBLASLt workspace; plus the CUDA context, which the driver allocates, at a typical size.
// Each allocation is counted rounded up to 256 bytes, as cudaMalloc's granularity at least.
// Does not hold: reading model files (the train command).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "train/lora/adapters.h"
#include "train/model/config.h"

namespace slm {

struct MemoryPlanInputs {
  ModelConfig config;
  LoraSettings lora;
  std::int64_t micro_batch_size = 1;
  std::int64_t seq_len = 2048;
  bool activation_checkpointing = false;
  bool small_tiles = false;  // the kernels' small tiles (CudaBackendOptions::small_tiles; tests)
  // Layer matrices the backend keeps quantized (CudaBackendOptions::quantized): HF name -> bytes.
  std::map<std::string, std::int64_t> quantized_bytes;
  std::string quantized_format;  // for the report: "Q4_1"
};

// The CUDA backend's own scratch for steps of at most max_tokens tokens, in bytes (it allocates
// exactly these in CudaBackend::reserve).
struct CudaScratchSizes {
  std::int64_t x_bf16 = 0, dy_bf16 = 0;                           // GEMM operands [N, widest]
  std::int64_t q_bf16 = 0, k_bf16 = 0, v_bf16 = 0, dout_bf16 = 0;  // attention operands
  std::int64_t attention_delta = 0;                                // [N, H] fp32
  std::int64_t lora_g = 0, lora_workspace = 0;                     // lora_backward's g and split sums
  std::int64_t ce_workspace = 0;
  std::int64_t ce_chunk = 1;  // rows of logits at once
};
CudaScratchSizes cuda_scratch_sizes(const ModelConfig& config, std::int64_t max_tokens, const LoraSettings* lora,
                                    bool small_tiles);

struct PlannedBuffer {
  std::string category;
  std::string name;
  std::int64_t bytes = 0;
};

struct MemoryPlan {
  std::vector<PlannedBuffer> buffers;
  std::int64_t total() const;
  // Category totals in the order categories first appear.
  std::vector<std::pair<std::string, std::int64_t>> by_category() const;
};

inline constexpr std::int64_t k_cublaslt_workspace_bytes = 32ll << 20;
inline constexpr std::int64_t k_step_scalar_bytes = 64;  // the backend's loss, counts and norm slots
inline constexpr std::int64_t k_cuda_context_bytes = 512ll << 20;  // typical driver + library handles
inline constexpr std::int64_t k_ce_chunk_rows = 1024;              // cross-entropy rows per logits chunk

MemoryPlan plan_cuda_memory(const MemoryPlanInputs& in);

// A table of the categories with bytes and shares, the total, and whether it fits in
// device_bytes (with what to change when it does not).
std::string format_memory_plan(const MemoryPlan& plan, const MemoryPlanInputs& in, std::int64_t device_bytes);

// "24GiB", "80GB", "16G", "512MiB", "40000000000" -> bytes; throws slm::Error naming the text.
std::int64_t parse_memory_size(std::string_view text);

}  // namespace slm
