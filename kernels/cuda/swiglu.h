// swiglu.h — SwiGLU forward and backward on the GPU (CUDA twins of swiglu_forward in
// kernels/cpu/layers.h and swiglu_backward in kernels/cpu/layers_backward.h: same argument
// meaning, fp32, plus a stream).
// Does not hold: GeGLU (the CPU backend has no GeGLU yet, so there is no twin to match), fusion
// into the gate/up GEMM epilogue.
//
// Letters: T tokens, F MLP size; count = T * F.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace slm::cuda {

// out = silu(gate) * up elementwise. Overwrites out; out may alias gate or up.
struct SwiGluParams {
  float* out = nullptr;         // [T, F]
  const float* gate = nullptr;  // [T, F]
  const float* up = nullptr;    // [T, F]
  std::int64_t count = 0;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
};

// dgate = dout * up * sigmoid(gate) * (1 + gate * (1 - sigmoid(gate))),  dup = dout * silu(gate).
// Overwrites dgate and dup. dgate may alias gate or dout, dup may alias up or dout (not dgate == dup).
struct SwiGluBackwardParams {
  float* dgate = nullptr;       // [T, F]
  float* dup = nullptr;         // [T, F]
  const float* dout = nullptr;  // [T, F]
  const float* gate = nullptr;  // [T, F]
  const float* up = nullptr;    // [T, F]
  std::int64_t count = 0;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
};

// Both enqueued on `stream`; one thread per element, grid-stride.
void swiglu_forward(const SwiGluParams& p, cudaStream_t stream);
void swiglu_backward(const SwiGluBackwardParams& p, cudaStream_t stream);

}  // namespace slm::cuda
