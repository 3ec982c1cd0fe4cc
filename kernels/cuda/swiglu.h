// swiglu.h — SwiGLU forward and backward on the GPU (CUDA twins of swiglu_forward in
// kernels/cpu/layers.h and swiglu_backward in kernels/cpu/layers_backward.h: same argument
// meaning, fp32, plus a stream).
// Does not hold: GeGLU (geglu.h), fusion into the gate/up GEMM epilogue, inputs other than fp32.
//
// Letters: T tokens, F MLP size; count = T * F.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace slm::cuda {

// out = silu(gate) * up elementwise. Overwrites out; out may alias gate or up. With out_bf16 set,
// also writes the output rounded to bf16 there (must not overlap the inputs); out may then be null.
struct SwiGluParams {
  float* out = nullptr;         // [T, F]
  const float* gate = nullptr;  // [T, F]
  const float* up = nullptr;    // [T, F]
  std::int64_t count = 0;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
  __nv_bfloat16* out_bf16 = nullptr;  // [T, F], optional
};

// dgate = dout * up * sigmoid(gate) * (1 + gate * (1 - sigmoid(gate))),  dup = dout * silu(gate).
// Overwrites dgate and dup. dgate may alias gate or dout, dup may alias up or dout (not dgate == dup).
// With dgate_bf16 / dup_bf16 set, also writes those rounded to bf16 there (must not overlap the
// inputs); the fp32 pointer of each may then be null.
struct SwiGluBackwardParams {
  float* dgate = nullptr;       // [T, F]
  float* dup = nullptr;         // [T, F]
  const float* dout = nullptr;  // [T, F]
  const float* gate = nullptr;  // [T, F]
  const float* up = nullptr;    // [T, F]
  std::int64_t count = 0;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
  __nv_bfloat16* dgate_bf16 = nullptr;  // [T, F], optional
  __nv_bfloat16* dup_bf16 = nullptr;    // [T, F], optional
};

// Both enqueued on `stream`; a float4 chunk or an element per thread, grid-stride.
void swiglu_forward(const SwiGluParams& p, cudaStream_t stream);
void swiglu_backward(const SwiGluBackwardParams& p, cudaStream_t stream);

}  // namespace slm::cuda
