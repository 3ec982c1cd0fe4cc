// layers.h — the elementwise and per-row ops of the transformer forward pass on the CPU:
// embedding lookup, RMSNorm, RoPE, SwiGLU, GeGLU, residual add. Attention is in attention.h and the
// dense products in matmul.h.
//
// Letters: T tokens, D hidden size, F MLP size, V vocab, n heads, E head_dim.
// All ops overwrite their outputs unless they say they accumulate. Reductions are fp32.
#pragma once

#include <cstdint>

namespace slm::cpu {

// out[T, D] = table[ids[t], :]; throws slm::Error for an id outside [0, V).
void embedding_forward(float* out, const float* table, const std::int32_t* ids, std::int64_t t,
                       std::int64_t d, std::int64_t v);

// out[T, D] = x * rsqrt(mean(x^2) + eps) * w   (HF LlamaRMSNorm; out may alias x).
void rmsnorm_forward(float* out, const float* x, const float* w, std::int64_t t, std::int64_t d, float eps);

// In place on x[T, n, E], HF's rotate-half layout: for i < E/2, with c = cos[t, i], s = sin[t, i],
//   x[i] <- x[i] c - x[i + E/2] s,   x[i + E/2] <- x[i + E/2] c + x[i] s.
void rope_forward(float* x, const float* cos, const float* sin, std::int64_t t, std::int64_t n, std::int64_t e);

// out[T, F] = silu(gate) * up   (out may alias gate).
void swiglu_forward(float* out, const float* gate, const float* up, std::int64_t count);

// out[T, F] = gelu(gate) * up   (Gemma's MLP; out may alias gate or up), with HF's
// gelu_pytorch_tanh: gelu(x) = 0.5 x (1 + tanh(z)),  z = sqrt(2/pi) (x + 0.044715 x^3),
// evaluated as x / (1 + exp(-2 z)) (the same function; 1 + tanh(z) cancels for negative x,
// the exponential does not).
void geglu_forward(float* out, const float* gate, const float* up, std::int64_t count);

// x[i] += y[i]   (accumulates).
void add_inplace(float* x, const float* y, std::int64_t count);

}  // namespace slm::cpu
