// memory_plan.h — the CUDA backend's device memory for a recipe, buffer by buffer and by
// category: what `slmtune train --plan` prints, and the list the backend's planner allocates up
// front (no allocation inside the step; DESIGN.md, "Conventions" 6).
//
// Categories: frozen weights (kept as the file stores them when the backend dequantizes that type
// on the fly, else bf16), adapters, gradients and AdamW moments (fp32), activations saved for the
// backward (bf16, fp32 for the residual stream, the norms' 1/rms, attention's log-sum-exp and
// LoRA's x A^T), backward work buffers, the chunked cross-entropy's logits chunk, the cuBLASLt
// workspace; plus the CUDA context, which the driver allocates, at a typical size.
// Does not hold: the CUDA backend itself (issue 8), reading model files (the train command).
#pragma once

#include <cstdint>
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
  std::int64_t frozen_weight_bytes = 0;  // the 2-D weights as the device keeps them
  std::string frozen_weight_format;      // for the report: "bf16", "Q4_1 (dequantized on the fly)"
};

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
inline constexpr std::int64_t k_cuda_context_bytes = 512ll << 20;  // typical driver + library handles
inline constexpr std::int64_t k_ce_chunk_rows = 1024;              // cross-entropy rows per logits chunk

MemoryPlan plan_cuda_memory(const MemoryPlanInputs& in);

// A table of the categories with bytes and shares, the total, and whether it fits in
// device_bytes (with what to change when it does not).
std::string format_memory_plan(const MemoryPlan& plan, const MemoryPlanInputs& in, std::int64_t device_bytes);

// "24GiB", "80GB", "16G", "512MiB", "40000000000" -> bytes; throws slm::Error naming the text.
std::int64_t parse_memory_size(std::string_view text);

}  // namespace slm
