// geglu.cu — GeGLU kernels, laid out as swiglu.cu: elementwise in a grid-stride loop, a float4
// chunk per thread when every array is 16-byte aligned (then a scalar tail), an element per
// thread otherwise. Every input of an element is read before its outputs are written, which is
// what makes the aliasing the header allows safe. gelu is evaluated as the CPU twin does, as
// x / (1 + exp(-2 z)) rather than 0.5 x (1 + tanh z) (which cancels for negative x), with expf
// (not __expf) for the 1e-5 parity with the CPU.
// Does not hold: the CPU twin (kernels/cpu/layers*.cpp).
#include "kernels/cuda/geglu.h"

#include <cfloat>  // FLT_MAX
#include <cstdint>

#include "kernels/cuda/launch.cuh"

namespace slm::cuda {
namespace {

constexpr int k_threads = 256;
constexpr std::int64_t k_max_blocks = 4096;  // more elements are taken by grid-stride

constexpr float k_sqrt_2_over_pi = 0.7978845608028654f, k_cubic = 0.044715f;

// z = sqrt(2/pi) (g + 0.044715 g^3); gelu(g) = g sigmoid(2 z).
__device__ __forceinline__ float gelu_z(float g) { return k_sqrt_2_over_pi * (g + k_cubic * g * g * g); }

__device__ __forceinline__ float geglu_one(float g, float u) { return g / (1.0f + expf(-2.0f * gelu_z(g))) * u; }

__device__ __forceinline__ void geglu_grad_one(float g, float u, float go, float& dg, float& du) {
  const float e = expf(-2.0f * gelu_z(g)), s = 1.0f / (1.0f + e);
  const float q = e <= FLT_MAX ? e * s * s : 0.0f;  // s (1 - s), without 1 - s cancelling
  const float slope = q > 0.0f ? 2.0f * g * q * k_sqrt_2_over_pi * (1.0f + 3.0f * k_cubic * g * g) : 0.0f;
  dg = go * u * (s + slope);
  du = go * (g * s);
}

// Four values rounded to bf16 at p (element stores: bf16 outputs need only 2-byte alignment).
__device__ __forceinline__ void store4_bf16(__nv_bfloat16* p, float4 v) {
  p[0] = __float2bfloat16_rn(v.x);
  p[1] = __float2bfloat16_rn(v.y);
  p[2] = __float2bfloat16_rn(v.z);
  p[3] = __float2bfloat16_rn(v.w);
}

// Vector = true: float4 chunks over the first count / 4 * 4 elements (all arrays 16-byte
// aligned), then the scalar tail; Vector = false: all elements scalar.
template <bool Vector>
__global__ void __launch_bounds__(k_threads) geglu_forward_kernel(GeGluParams p) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t chunks = Vector ? p.count / 4 : 0;
  for (std::int64_t c = first; c < chunks; c += stride) {
    const float4 g = reinterpret_cast<const float4*>(p.gate)[c], u = reinterpret_cast<const float4*>(p.up)[c];
    const float4 y = make_float4(geglu_one(g.x, u.x), geglu_one(g.y, u.y), geglu_one(g.z, u.z), geglu_one(g.w, u.w));
    if (p.out != nullptr) reinterpret_cast<float4*>(p.out)[c] = y;
    if (p.out_bf16 != nullptr) store4_bf16(p.out_bf16 + c * 4, y);
  }
  for (std::int64_t i = chunks * 4 + first; i < p.count; i += stride) {
    const float y = geglu_one(p.gate[i], p.up[i]);
    if (p.out != nullptr) p.out[i] = y;
    if (p.out_bf16 != nullptr) p.out_bf16[i] = __float2bfloat16_rn(y);
  }
}

template <bool Vector>
__global__ void __launch_bounds__(k_threads) geglu_backward_kernel(GeGluBackwardParams p) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t chunks = Vector ? p.count / 4 : 0;
  for (std::int64_t c = first; c < chunks; c += stride) {
    const float4 g = reinterpret_cast<const float4*>(p.gate)[c], u = reinterpret_cast<const float4*>(p.up)[c],
                 go = reinterpret_cast<const float4*>(p.dout)[c];
    float4 dg, du;
    geglu_grad_one(g.x, u.x, go.x, dg.x, du.x);
    geglu_grad_one(g.y, u.y, go.y, dg.y, du.y);
    geglu_grad_one(g.z, u.z, go.z, dg.z, du.z);
    geglu_grad_one(g.w, u.w, go.w, dg.w, du.w);
    if (p.dgate != nullptr) reinterpret_cast<float4*>(p.dgate)[c] = dg;
    if (p.dup != nullptr) reinterpret_cast<float4*>(p.dup)[c] = du;
    if (p.dgate_bf16 != nullptr) store4_bf16(p.dgate_bf16 + c * 4, dg);
    if (p.dup_bf16 != nullptr) store4_bf16(p.dup_bf16 + c * 4, du);
  }
  for (std::int64_t i = chunks * 4 + first; i < p.count; i += stride) {
    float dg, du;
    geglu_grad_one(p.gate[i], p.up[i], p.dout[i], dg, du);
    if (p.dgate != nullptr) p.dgate[i] = dg;
    if (p.dup != nullptr) p.dup[i] = du;
    if (p.dgate_bf16 != nullptr) p.dgate_bf16[i] = __float2bfloat16_rn(dg);
    if (p.dup_bf16 != nullptr) p.dup_bf16[i] = __float2bfloat16_rn(du);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

unsigned blocks_for(std::int64_t count, int max_blocks) {
  const std::int64_t needed = (count / 4 + k_threads) / k_threads;  // a float4 chunk per thread
  const std::int64_t limit = max_blocks > 0 ? max_blocks : k_max_blocks;
  return static_cast<unsigned>(needed < limit ? needed : limit);
}

}  // namespace

void geglu_forward(const GeGluParams& p, cudaStream_t stream) {
  SLM_CHECK(p.count >= 0, "internal: cuda::geglu_forward called with count ", p.count);
  if (p.count == 0) return;
  const dim3 grid(blocks_for(p.count, p.max_blocks));
  SLM_CHECK(p.out != nullptr || p.out_bf16 != nullptr, "internal: cuda::geglu_forward without an output");
  if (aligned16(p.out) && aligned16(p.gate) && aligned16(p.up)) {
    launch(geglu_forward_kernel<true>, grid, dim3(k_threads), 0, stream, p);
  } else {
    launch(geglu_forward_kernel<false>, grid, dim3(k_threads), 0, stream, p);
  }
}

void geglu_backward(const GeGluBackwardParams& p, cudaStream_t stream) {
  SLM_CHECK(p.count >= 0, "internal: cuda::geglu_backward called with count ", p.count);
  SLM_CHECK(p.dgate != p.dup || p.dgate == nullptr, "internal: cuda::geglu_backward needs dgate != dup");
  if (p.count == 0) return;
  const dim3 grid(blocks_for(p.count, p.max_blocks));
  if (aligned16(p.dgate) && aligned16(p.dup) && aligned16(p.dout) && aligned16(p.gate) && aligned16(p.up)) {
    launch(geglu_backward_kernel<true>, grid, dim3(k_threads), 0, stream, p);
  } else {
    launch(geglu_backward_kernel<false>, grid, dim3(k_threads), 0, stream, p);
  }
}

}  // namespace slm::cuda
