// geglu.h — GeGLU forward and backward on the GPU (CUDA twins of geglu_forward in
// kernels/cpu/layers.h and geglu_backward in kernels/cpu/layers_backward.h: same argument
// meaning, fp32, plus a stream). gelu is HF's gelu_pytorch_tanh (Gemma's hidden_activation):
// gelu(x) = 0.5 x (1 + tanh(z)) = x sigmoid(2 z),  z = sqrt(2/pi) (x + 0.044715 x^3).
// Does not hold: SwiGLU (swiglu.h), the exact erf gelu, fusion into the gate/up GEMM epilogue,
// inputs other than fp32.
//
// Letters: T tokens, F MLP size; count = T * F.
#pragma once

#include "kernels/cuda/swiglu.h"

namespace slm::cuda {

// The arguments are SwiGLU's (swiglu.h), with gelu in place of silu:
// out = gelu(gate) * up elementwise. Overwrites out; out may alias gate or up. With out_bf16 set,
// also writes the output rounded to bf16 there (must not overlap the inputs); out may then be null.
using GeGluParams = SwiGluParams;

// With s = sigmoid(2 z):  dgate = dout * up * (s + 2 gate s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 gate^2)),
// dup = dout * gelu(gate), s (1 - s) evaluated as e s^2 with e = exp(-2 z), and the second term of
// dgate 0 where that is 0 in fp32 (as on the CPU: a finite gate never gives NaN).
// Overwrites dgate and dup. dgate may alias gate or dout, dup may alias up or dout (not dgate == dup).
// With dgate_bf16 / dup_bf16 set, also writes those rounded to bf16 there (must not overlap the
// inputs); the fp32 pointer of each may then be null.
using GeGluBackwardParams = SwiGluBackwardParams;

// Both enqueued on `stream`; a float4 chunk or an element per thread, grid-stride.
void geglu_forward(const GeGluParams& p, cudaStream_t stream);
void geglu_backward(const GeGluBackwardParams& p, cudaStream_t stream);

}  // namespace slm::cuda
