// rmsnorm.h — RMSNorm forward and backward on the GPU (CUDA twins of rmsnorm_forward in
// kernels/cpu/layers.h and rmsnorm_backward in kernels/cpu/layers_backward.h: same argument
// meaning and shapes, fp32 in and out, plus a stream).
// Does not hold: Gemma's `1 + w` weight (the CPU twin has no such option yet), weight gradients
// (norm weights are frozen in LoRA training), inputs other than fp32.
//
// Letters: T tokens (rows), D hidden size.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace slm::cuda {

// out[T, D] = x * rsqrt(mean(x^2) + eps) * w   (HF LlamaRMSNorm). Overwrites out; out may alias x.
// With out_bf16 set, also writes the output rounded to bf16 there (the operand of a bf16 GEMM;
// it must not overlap x); out may then be null.
struct RmsNormParams {
  float* out = nullptr;      // [T, D]
  const float* x = nullptr;  // [T, D]
  const float* w = nullptr;  // [D]
  std::int64_t t = 0, d = 0;
  float eps = 1e-6f;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
  __nv_bfloat16* out_bf16 = nullptr;  // [T, D], optional
};

// dx[T, D] = r * (dy*w - x * r^2 * mean(dy*w*x)),  r = rsqrt(mean(x^2) + eps) per row, recomputed
// from x (the forward input). accumulate = false overwrites dx (dx may then alias dy);
// accumulate = true adds into dx (dx must not alias dy or x then).
struct RmsNormBackwardParams {
  float* dx = nullptr;        // [T, D]
  const float* dy = nullptr;  // [T, D]
  const float* x = nullptr;   // [T, D]
  const float* w = nullptr;   // [D]
  std::int64_t t = 0, d = 0;
  float eps = 1e-6f;
  bool accumulate = false;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
};

// Both enqueued on `stream`; one block per row (grid-stride over rows), any T >= 0 and D >= 1.
void rmsnorm_forward(const RmsNormParams& p, cudaStream_t stream);
void rmsnorm_backward(const RmsNormBackwardParams& p, cudaStream_t stream);

}  // namespace slm::cuda
