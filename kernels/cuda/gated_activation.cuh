// gated_activation.cuh — the kernels and launchers shared by the gated MLP activations (swiglu.cu,
// geglu.cu): out = act(gate) * up and its backward, elementwise in a grid-stride loop, a float4
// chunk per thread when every array is 16-byte aligned (then a scalar tail), an element per
// thread otherwise. Every input of an element is read before its outputs are written, which is
// what makes the aliasing the headers allow safe.
//
// An activation is a struct with two device functions:
//   static float value(float g, float u);                                  act(g) * u
//   static void grad(float g, float u, float go, float& dg, float& du);    d/dg and d/du of go * value
// Included by one .cu per activation; not a public header.
#pragma once

#include <cstdint>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/swiglu.h"  // SwiGluParams, SwiGluBackwardParams: the shared argument structs

namespace slm::cuda::gated {

constexpr int k_threads = 256;
constexpr std::int64_t k_max_blocks = 4096;  // more elements are taken by grid-stride

// Four values rounded to bf16 at p (element stores: bf16 outputs need only 2-byte alignment).
__device__ __forceinline__ void store4_bf16(__nv_bfloat16* p, float4 v) {
  p[0] = __float2bfloat16_rn(v.x);
  p[1] = __float2bfloat16_rn(v.y);
  p[2] = __float2bfloat16_rn(v.z);
  p[3] = __float2bfloat16_rn(v.w);
}

// Vector = true: float4 chunks over the first count / 4 * 4 elements (all arrays 16-byte
// aligned), then the scalar tail; Vector = false: all elements scalar.
template <class Act, bool Vector>
__global__ void __launch_bounds__(k_threads) forward_kernel(SwiGluParams p) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t chunks = Vector ? p.count / 4 : 0;
  for (std::int64_t c = first; c < chunks; c += stride) {
    const float4 g = reinterpret_cast<const float4*>(p.gate)[c], u = reinterpret_cast<const float4*>(p.up)[c];
    const float4 y = make_float4(Act::value(g.x, u.x), Act::value(g.y, u.y), Act::value(g.z, u.z), Act::value(g.w, u.w));
    if (p.out != nullptr) reinterpret_cast<float4*>(p.out)[c] = y;
    if (p.out_bf16 != nullptr) store4_bf16(p.out_bf16 + c * 4, y);
  }
  for (std::int64_t i = chunks * 4 + first; i < p.count; i += stride) {
    const float y = Act::value(p.gate[i], p.up[i]);
    if (p.out != nullptr) p.out[i] = y;
    if (p.out_bf16 != nullptr) p.out_bf16[i] = __float2bfloat16_rn(y);
  }
}

template <class Act, bool Vector>
__global__ void __launch_bounds__(k_threads) backward_kernel(SwiGluBackwardParams p) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t chunks = Vector ? p.count / 4 : 0;
  for (std::int64_t c = first; c < chunks; c += stride) {
    const float4 g = reinterpret_cast<const float4*>(p.gate)[c], u = reinterpret_cast<const float4*>(p.up)[c],
                 go = reinterpret_cast<const float4*>(p.dout)[c];
    float4 dg, du;
    Act::grad(g.x, u.x, go.x, dg.x, du.x);
    Act::grad(g.y, u.y, go.y, dg.y, du.y);
    Act::grad(g.z, u.z, go.z, dg.z, du.z);
    Act::grad(g.w, u.w, go.w, dg.w, du.w);
    if (p.dgate != nullptr) reinterpret_cast<float4*>(p.dgate)[c] = dg;
    if (p.dup != nullptr) reinterpret_cast<float4*>(p.dup)[c] = du;
    if (p.dgate_bf16 != nullptr) store4_bf16(p.dgate_bf16 + c * 4, dg);
    if (p.dup_bf16 != nullptr) store4_bf16(p.dup_bf16 + c * 4, du);
  }
  for (std::int64_t i = chunks * 4 + first; i < p.count; i += stride) {
    float dg, du;
    Act::grad(p.gate[i], p.up[i], p.dout[i], dg, du);
    if (p.dgate != nullptr) p.dgate[i] = dg;
    if (p.dup != nullptr) p.dup[i] = du;
    if (p.dgate_bf16 != nullptr) p.dgate_bf16[i] = __float2bfloat16_rn(dg);
    if (p.dup_bf16 != nullptr) p.dup_bf16[i] = __float2bfloat16_rn(du);
  }
}

inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

inline unsigned blocks_for(std::int64_t count, int max_blocks) {
  const std::int64_t needed = (count / 4 + k_threads) / k_threads;  // a float4 chunk per thread
  const std::int64_t limit = max_blocks > 0 ? max_blocks : k_max_blocks;
  return static_cast<unsigned>(needed < limit ? needed : limit);
}

// `name` is the public function's, for messages ("cuda::swiglu_forward").
template <class Act>
void forward(const SwiGluParams& p, const char* name, cudaStream_t stream) {
  SLM_CHECK(p.count >= 0, "internal: ", name, " called with count ", p.count);
  if (p.count == 0) return;
  const dim3 grid(blocks_for(p.count, p.max_blocks));
  SLM_CHECK(p.out != nullptr || p.out_bf16 != nullptr, "internal: ", name, " without an output");
  if (aligned16(p.out) && aligned16(p.gate) && aligned16(p.up)) {
    launch(forward_kernel<Act, true>, grid, dim3(k_threads), 0, stream, p);
  } else {
    launch(forward_kernel<Act, false>, grid, dim3(k_threads), 0, stream, p);
  }
}

template <class Act>
void backward(const SwiGluBackwardParams& p, const char* name, cudaStream_t stream) {
  SLM_CHECK(p.count >= 0, "internal: ", name, " called with count ", p.count);
  SLM_CHECK(p.dgate != p.dup || p.dgate == nullptr, "internal: ", name, " needs dgate != dup");
  if (p.count == 0) return;
  const dim3 grid(blocks_for(p.count, p.max_blocks));
  if (aligned16(p.dgate) && aligned16(p.dup) && aligned16(p.dout) && aligned16(p.gate) && aligned16(p.up)) {
    launch(backward_kernel<Act, true>, grid, dim3(k_threads), 0, stream, p);
  } else {
    launch(backward_kernel<Act, false>, grid, dim3(k_threads), 0, stream, p);
  }
}

}  // namespace slm::cuda::gated
