// layers_backward.h — backward of the per-row and elementwise ops of layers.h on the CPU:
// RMSNorm, RoPE, SwiGLU, GeGLU. Norm weights are frozen in LoRA training, so no weight gradients.
// Does not hold: attention (attention_backward.h), products (matmul_backward.h, lora.h),
// the loss (cross_entropy.h).
//
// Letters: T tokens, D hidden size, F MLP size, n heads, E head_dim.
#pragma once

#include <cstdint>

namespace slm::cpu {

// Backward of out = x * rsqrt(mean(x^2) + eps) * w with x, w [.., D], given dy [T, D]:
//   dx[T, D] = r * (dy*w - x * r^2 * mean(dy*w*x)),   r = rsqrt(mean(x^2) + eps) per row.
// x is the norm's forward input (the residual stream); r is recomputed from it.
// accumulate = false overwrites dx (dx may then alias dy). accumulate = true adds into dx: the
// trainer's case, where dx is the residual-stream gradient that already holds the skip path's
// gradient, so `dres += rmsnorm_backward(dnormed)` needs no extra buffer or add pass.
void rmsnorm_backward(float* dx, const float* dy, const float* x, const float* w, std::int64_t t,
                      std::int64_t d, float eps, bool accumulate = false);

// Backward of rope_forward, in place on dx[T, n, E]: the inverse (transposed) rotation,
//   dx[i] <- dx[i] c + dx[i + E/2] s,   dx[i + E/2] <- dx[i + E/2] c - dx[i] s,
// with cos, sin [T, E/2] the tables of the forward. Overwrites dx.
void rope_backward(float* dx, const float* cos, const float* sin, std::int64_t t, std::int64_t n,
                   std::int64_t e);

// Backward of out = silu(gate) * up over count elements, given dout:
//   dgate = dout * up * sigmoid(gate) * (1 + gate * (1 - sigmoid(gate))),  dup = dout * silu(gate).
// Overwrites dgate and dup. Elementwise: dgate may alias gate or dout, dup may alias up or dout
// (not dgate == dup).
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                     std::int64_t count);

// Backward of out = gelu(gate) * up (geglu_forward, tanh-approximated gelu) given dout, with
// z = sqrt(2/pi) (gate + 0.044715 gate^3) and s = sigmoid(2 z) (so gelu(gate) = gate * s):
//   dgate = dout * up * (s + 2 gate s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 gate^2)),
//   dup   = dout * gelu(gate).
// (0.5 (1 + tanh z) = s and 0.5 (1 - tanh^2 z) = 2 s (1 - s): HF's derivative, written without
// the cancellations; s (1 - s) is evaluated as e s^2 with e = exp(-2 z).) Where s (1 - s) is 0 in
// fp32 (exp(-2 z) underflows or overflows) the second term is taken as 0, so a finite gate never
// gives NaN (gate^2 overflows beyond 1.8e19). Overwrites dgate and dup. Elementwise: dgate
// may alias gate or dout, dup may alias up or dout (not dgate == dup).
void geglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                    std::int64_t count);

}  // namespace slm::cpu
