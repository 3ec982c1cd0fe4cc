// swiglu.cu — SwiGLU kernels: elementwise, one thread per element in a grid-stride loop; every
// input of an element is read before its outputs are written, which is what makes the aliasing
// the header allows safe. expf (not __expf) keeps fp32 accuracy for the 1e-5 parity with the CPU.
// Does not hold: the CPU twin (kernels/cpu/layers*.cpp).
#include "kernels/cuda/swiglu.h"

#include "kernels/cuda/launch.cuh"

namespace slm::cuda {
namespace {

constexpr int k_threads = 256;
constexpr std::int64_t k_max_blocks = 4096;  // more elements are taken by grid-stride

__global__ void __launch_bounds__(k_threads) swiglu_forward_kernel(SwiGluParams p) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.count; i += stride) {
    const float g = p.gate[i], u = p.up[i];
    p.out[i] = g / (1.0f + expf(-g)) * u;
  }
}

__global__ void __launch_bounds__(k_threads) swiglu_backward_kernel(SwiGluBackwardParams p) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.count; i += stride) {
    const float g = p.gate[i], u = p.up[i], go = p.dout[i];
    const float sig = 1.0f / (1.0f + expf(-g));
    const float silu = g * sig;
    p.dgate[i] = go * u * sig * (1.0f + g * (1.0f - sig));
    p.dup[i] = go * silu;
  }
}

unsigned blocks_for(std::int64_t count, int max_blocks) {
  const std::int64_t needed = (count + k_threads - 1) / k_threads;
  const std::int64_t limit = max_blocks > 0 ? max_blocks : k_max_blocks;
  return static_cast<unsigned>(needed < limit ? needed : limit);
}

}  // namespace

void swiglu_forward(const SwiGluParams& p, cudaStream_t stream) {
  SLM_CHECK(p.count >= 0, "internal: cuda::swiglu_forward called with count ", p.count);
  if (p.count == 0) return;
  launch(swiglu_forward_kernel, dim3(blocks_for(p.count, p.max_blocks)), dim3(k_threads), 0, stream, p);
}

void swiglu_backward(const SwiGluBackwardParams& p, cudaStream_t stream) {
  SLM_CHECK(p.count >= 0, "internal: cuda::swiglu_backward called with count ", p.count);
  SLM_CHECK(p.dgate != p.dup || p.count == 0, "internal: cuda::swiglu_backward needs dgate != dup");
  if (p.count == 0) return;
  launch(swiglu_backward_kernel, dim3(blocks_for(p.count, p.max_blocks)), dim3(k_threads), 0, stream, p);
}

}  // namespace slm::cuda
