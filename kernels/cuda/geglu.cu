// geglu.cu — GeGLU, out = gelu(gate) * up, on the shared gated-activation kernels
// (gated_activation.cuh). gelu is evaluated as the CPU twin does, as x / (1 + exp(-2 z)) rather
// than 0.5 x (1 + tanh z) (which cancels for negative x), with expf (not __expf) for the 1e-5
// parity with the CPU.
// Does not hold: the CPU twin (kernels/cpu/layers*.cpp).
#include "kernels/cuda/geglu.h"

#include <cfloat>  // FLT_MAX

#include "kernels/cuda/gated_activation.cuh"

namespace slm::cuda {
namespace {

constexpr float k_sqrt_2_over_pi = 0.7978845608028654f, k_cubic = 0.044715f;

struct Gelu {
  // z = sqrt(2/pi) (g + 0.044715 g^3); gelu(g) = g sigmoid(2 z).
  __device__ __forceinline__ static float z(float g) { return k_sqrt_2_over_pi * (g + k_cubic * g * g * g); }
  __device__ __forceinline__ static float value(float g, float u) { return g / (1.0f + expf(-2.0f * z(g))) * u; }
  __device__ __forceinline__ static void grad(float g, float u, float go, float& dg, float& du) {
    const float e = expf(-2.0f * z(g)), s = 1.0f / (1.0f + e);
    const float q = e <= FLT_MAX ? e * s * s : 0.0f;  // s (1 - s), without 1 - s cancelling
    const float slope = q > 0.0f ? 2.0f * g * q * k_sqrt_2_over_pi * (1.0f + 3.0f * k_cubic * g * g) : 0.0f;
    dg = go * u * (s + slope);
    du = go * (g * s);
  }
};

}  // namespace

void geglu_forward(const GeGluParams& p, cudaStream_t stream) { gated::forward<Gelu>(p, "cuda::geglu_forward", stream); }
void geglu_backward(const GeGluBackwardParams& p, cudaStream_t stream) {
  gated::backward<Gelu>(p, "cuda::geglu_backward", stream);
}

}  // namespace slm::cuda
