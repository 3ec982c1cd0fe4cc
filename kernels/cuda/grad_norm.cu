// grad_norm.cu — sum of squares of a flat fp32 array in two deterministic passes, and an
// in-place scale.
//
// Pass 1: the array is cut into chunks of 4096 floats (the CPU twin's blocks); thread block b of
// G takes chunks b, b + G, b + 2G, ... Within a chunk each thread adds its 16 squares (a stride
// of 256, so loads are coalesced) in fp32 and then into its own double; the block's doubles are
// reduced in a fixed tree to one partial per block. Pass 2: one block adds the G partials in a
// fixed order. G depends only on n, so the bits never depend on scheduling. There are no float
// atomics anywhere.
// Does not hold: the declarations (grad_norm.h), the CPU twin (kernels/cpu/grad_norm.cpp).
#include "kernels/cuda/grad_norm.h"

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/shared.cuh"

#include "kernels/cuda/unroll.cuh"

namespace slm::cuda {
namespace {

struct GradNormTraits {
  static constexpr int threads = 256;
  static constexpr int warps = threads / 32;
  static constexpr int chunk = 4096;                      // floats per chunk, as the CPU's block
  static constexpr int per_thread = chunk / threads;      // squares a thread adds in fp32
  static constexpr int max_blocks = k_grad_norm_max_blocks;  // G at most: the workspace's size
  static_assert(chunk % threads == 0, "a chunk is whole strides of the block");
};

__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// The block's sum of v in a fixed order, valid in thread 0.
template <class T, class Smem>
__device__ __forceinline__ double block_sum(double v, Smem red) {
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = static_cast<int>(threadIdx.x >> 5);
  if (lane == 0) red[warp] = v;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0)
    for (int i = 0; i < T::warps; ++i) total += red[i];
  return total;
}

template <class T>
__global__ void __launch_bounds__(T::threads) grad_norm_partials_kernel(const float* __restrict__ g,
                                                                       std::int64_t n, double* partials) {
  SLM_SHARED(double, red, T::warps);
  const std::int64_t chunks = (n + T::chunk - 1) / T::chunk;
  double acc = 0.0;
  for (std::int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const std::int64_t base = c * T::chunk + threadIdx.x;
    float sum = 0.0f;
    if (base + static_cast<std::int64_t>(T::threads) * (T::per_thread - 1) < n) {  // a whole chunk
SLM_UNROLL
      for (int k = 0; k < T::per_thread; ++k) {
        const float v = g[base + k * T::threads];
        sum += v * v;
      }
    } else {
      for (int k = 0; k < T::per_thread; ++k) {
        const std::int64_t i = base + k * T::threads;
        if (i < n) sum += g[i] * g[i];
      }
    }
    acc += static_cast<double>(sum);
  }
  const double total = block_sum<T>(acc, red);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

template <class T>
__global__ void __launch_bounds__(T::threads) grad_norm_total_kernel(const double* partials, int count,
                                                                    double* out) {
  SLM_SHARED(double, red, T::warps);
  double acc = 0.0;
  for (int i = static_cast<int>(threadIdx.x); i < count; i += T::threads) acc += partials[i];
  const double total = block_sum<T>(acc, red);
  if (threadIdx.x == 0) *out = total;
}

__global__ void scale_kernel(float* __restrict__ g, std::int64_t n, float s) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) g[i] *= s;
}

}  // namespace

std::size_t grad_norm_workspace_doubles() { return GradNormTraits::max_blocks; }

void grad_norm_squared(const GradNormParams& p, cudaStream_t stream) {
  using T = GradNormTraits;
  SLM_CHECK(p.n >= 0 && p.norm_squared != nullptr && (p.n == 0 || (p.g != nullptr && p.workspace != nullptr)),
            "internal: cuda::grad_norm_squared called with n ", p.n,
            " and a null output, input or workspace (the workspace holds grad_norm_workspace_doubles())");
  const std::int64_t chunks = (p.n + T::chunk - 1) / T::chunk;
  const int blocks = static_cast<int>(chunks < T::max_blocks ? chunks : T::max_blocks);
  if (blocks > 0) launch(grad_norm_partials_kernel<T>, dim3(blocks), dim3(T::threads), 0, stream, p.g, p.n, p.workspace);
  launch(grad_norm_total_kernel<T>, dim3(1), dim3(T::threads), 0, stream, static_cast<const double*>(p.workspace),
         blocks, p.norm_squared);
}

void scale_inplace(float* g, std::int64_t n, float s, cudaStream_t stream) {
  SLM_CHECK(n >= 0, "internal: cuda::scale_inplace called with n ", n);
  if (n == 0) return;
  constexpr int k_threads = 256;
  const std::int64_t needed = (n + k_threads - 1) / k_threads;
  launch(scale_kernel, dim3(static_cast<unsigned>(needed < 4096 ? needed : 4096)), dim3(k_threads), 0, stream, g, n, s);
}

}  // namespace slm::cuda
