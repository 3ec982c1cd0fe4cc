// swiglu.cu — SwiGLU, out = silu(gate) * up, on the shared gated-activation kernels
// (gated_activation.cuh). expf (not __expf) keeps fp32 accuracy for the 1e-5 parity with the CPU.
// Does not hold: the CPU twin (kernels/cpu/layers*.cpp).
#include "kernels/cuda/swiglu.h"

#include "kernels/cuda/gated_activation.cuh"

namespace slm::cuda {
namespace {

struct Silu {
  __device__ __forceinline__ static float value(float g, float u) { return g / (1.0f + expf(-g)) * u; }
  __device__ __forceinline__ static void grad(float g, float u, float go, float& dg, float& du) {
    const float sig = 1.0f / (1.0f + expf(-g));
    const float silu = g * sig;
    dg = go * u * sig * (1.0f + g * (1.0f - sig));
    du = go * silu;
  }
};

}  // namespace

void swiglu_forward(const SwiGluParams& p, cudaStream_t stream) {
  gated::forward<Silu>(p, "cuda::swiglu_forward", stream);
}
void swiglu_backward(const SwiGluBackwardParams& p, cudaStream_t stream) {
  gated::backward<Silu>(p, "cuda::swiglu_backward", stream);
}

}  // namespace slm::cuda
