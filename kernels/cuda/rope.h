// rope.h — rotary position embedding on the GPU: the cos/sin tables from per-token positions,
// and the rotation forward and backward (CUDA twins of rope_forward in kernels/cpu/layers.h and
// rope_backward in kernels/cpu/layers_backward.h: same layout and argument meaning, fp32, plus a
// stream).
// Does not hold: the inverse frequencies (rope_inv_freq in train/model/llama.h computes them on
// the host once, with the model's scaling), attention (kernels/cuda/attention.h).
//
// Letters: T tokens, n heads, E head_dim (half = E / 2).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace slm::cuda {

// cos[t, i] = float(cos(double(float(positions[t]) * inv_freq[i]))), sin likewise: the tables the
// trainer builds on the host (train/model/llama_train.cpp), here on the device. Positions are per
// token, so packed documents restart at 0. Overwrites cos and sin.
struct RopeTablesParams {
  float* cos = nullptr;                   // [T, half]
  float* sin = nullptr;                   // [T, half]
  const std::int32_t* positions = nullptr;  // [T]
  const float* inv_freq = nullptr;        // [half]
  std::int64_t t = 0, half = 0;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
};

// In place on x[T, n, E], HF's rotate-half layout, with c = cos[t, i], s = sin[t, i], i < E/2:
//   forward:  x[i] <- x[i] c - x[i + E/2] s,   x[i + E/2] <- x[i + E/2] c + x[i] s
//   backward: the transposed rotation (dx[i] <- dx[i] c + dx[i + E/2] s, ...). Overwrites x.
// With x_bf16 set, the rotated x is also written there rounded to bf16 (attention's or a bf16
// GEMM's operand; an odd E's untouched last element too).
struct RopeParams {
  float* x = nullptr;          // [T, n, E]
  const float* cos = nullptr;  // [T, E/2]
  const float* sin = nullptr;  // [T, E/2]
  std::int64_t t = 0, n = 0, e = 0;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
  __nv_bfloat16* x_bf16 = nullptr;  // [T, n, E], optional
};

// All enqueued on `stream`; a warp per row (token, or token and head), lanes over i < E/2.
void rope_tables(const RopeTablesParams& p, cudaStream_t stream);
void rope_forward(const RopeParams& p, cudaStream_t stream);
void rope_backward(const RopeParams& p, cudaStream_t stream);

}  // namespace slm::cuda
