// adamw.cu — fused AdamW kernel: one read and one write of param, m and v per element.
//
// Memory-bound: each thread handles float4 chunks in a grid-stride loop; a scalar tail covers
// n % 4. The per-step constants (bias corrections) are computed on the host in double.
#include "kernels/cuda/adamw.h"

#include <cmath>

#include "kernels/cuda/launch.cuh"

namespace slm::cuda {
namespace {

struct AdamWConstants {
  float b1, b2, eps, scale, decay, step_size, inv_sqrt_bc2;
};

__device__ __forceinline__ float adamw_one(const AdamWConstants& c, float p, float g, float& m,
                                           float& v) {
  g *= c.scale;
  m = c.b1 * m + (1.0f - c.b1) * g;
  v = c.b2 * v + (1.0f - c.b2) * g * g;
  return p * c.decay - c.step_size * m / (sqrtf(v) * c.inv_sqrt_bc2 + c.eps);
}

__global__ void adamw_kernel(AdamWConstants c, float* __restrict__ param,
                             const float* __restrict__ grad, float* __restrict__ m,
                             float* __restrict__ v, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t first = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::size_t n4 = n / 4;
  for (std::size_t i = first; i < n4; i += stride) {
    float4 p4 = reinterpret_cast<float4*>(param)[i];
    float4 g4 = reinterpret_cast<const float4*>(grad)[i];
    float4 m4 = reinterpret_cast<float4*>(m)[i];
    float4 v4 = reinterpret_cast<float4*>(v)[i];
    p4.x = adamw_one(c, p4.x, g4.x, m4.x, v4.x);
    p4.y = adamw_one(c, p4.y, g4.y, m4.y, v4.y);
    p4.z = adamw_one(c, p4.z, g4.z, m4.z, v4.z);
    p4.w = adamw_one(c, p4.w, g4.w, m4.w, v4.w);
    reinterpret_cast<float4*>(param)[i] = p4;
    reinterpret_cast<float4*>(m)[i] = m4;
    reinterpret_cast<float4*>(v)[i] = v4;
  }
  for (std::size_t i = n4 * 4 + first; i < n; i += stride) param[i] = adamw_one(c, param[i], grad[i], m[i], v[i]);
}

}  // namespace

void adamw_step(const AdamWParams& p, float* param, const float* grad, float* m, float* v,
                std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  SLM_CHECK(reinterpret_cast<std::uintptr_t>(param) % 16 == 0 &&
                reinterpret_cast<std::uintptr_t>(grad) % 16 == 0 &&
                reinterpret_cast<std::uintptr_t>(m) % 16 == 0 && reinterpret_cast<std::uintptr_t>(v) % 16 == 0,
            "internal: adamw_step needs 16-byte aligned arenas");
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  const AdamWConstants c{p.beta1,
                         p.beta2,
                         p.eps,
                         p.grad_scale,
                         1.0f - p.lr * p.weight_decay,
                         static_cast<float>(p.lr / bc1),
                         static_cast<float>(1.0 / std::sqrt(bc2))};
  constexpr int k_threads = 256;
  const std::size_t blocks_needed = (n / 4 + k_threads - 1) / k_threads;
  const unsigned blocks = static_cast<unsigned>(blocks_needed < 4096 ? (blocks_needed ? blocks_needed : 1) : 4096);
  launch(adamw_kernel, dim3(blocks), dim3(k_threads), 0, stream, c, param, grad, m, v, n);
}

}  // namespace slm::cuda
