// rmsnorm.cu — RMSNorm forward and backward kernels: one block per row (grid-stride over rows),
// each thread strides over the row's D elements, fp32 sums reduced by warp shuffles and then
// across warps through shared memory. Two passes over the row: sums, then the elementwise write
// (each thread writes only the elements it read, so out may alias x and dx may alias dy).
// Does not hold: the CPU twin (kernels/cpu/layers*.cpp), vectorized loads (rows are short and
// the kernel is bound by its two passes over memory either way).
#include "kernels/cuda/rmsnorm.h"

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/shared.cuh"

namespace slm::cuda {
namespace {

template <int Threads>
struct RmsNormTraits {
  static constexpr int threads = Threads;
  static constexpr int warps = Threads / 32;
  static_assert(Threads % 32 == 0 && Threads >= 32 && Threads <= 1024, "whole warps, at most 1024 threads");
};

constexpr std::int64_t k_max_blocks = 4096;  // about two waves of 128-thread blocks on an H100; more rows by grid-stride

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// The block's sums of a and b, returned to every thread. red holds 2 * Warps floats; the trailing
// barrier lets the caller reuse red for the next row. Every thread adds the warp partials in the
// same order, so all threads see identical bits.
template <int Warps, typename Smem>
__device__ __forceinline__ float2 block_sum2(float a, float b, Smem red) {
  a = warp_sum(a);
  b = warp_sum(b);
  const int lane = threadIdx.x & 31, warp = static_cast<int>(threadIdx.x >> 5);
  if (lane == 0) {
    red[warp] = a;
    red[Warps + warp] = b;
  }
  __syncthreads();
  float2 s = make_float2(0.0f, 0.0f);
  for (int i = 0; i < Warps; ++i) {
    s.x += red[i];
    s.y += red[Warps + i];
  }
  __syncthreads();
  return s;
}

template <typename T>
__global__ void __launch_bounds__(T::threads) rmsnorm_forward_kernel(RmsNormParams p) {
  SLM_SHARED(float, red, 2 * T::warps);
  const int d = static_cast<int>(p.d);
  const float inv_d = 1.0f / static_cast<float>(d);
  for (std::int64_t row = blockIdx.x; row < p.t; row += gridDim.x) {
    const float* x = p.x + row * p.d;
    float* out = p.out + row * p.d;
    float sum = 0.0f;
    for (int j = static_cast<int>(threadIdx.x); j < d; j += T::threads) sum += x[j] * x[j];
    const float total = block_sum2<T::warps>(sum, 0.0f, red).x;
    const float r = 1.0f / sqrtf(total * inv_d + p.eps);
    for (int j = static_cast<int>(threadIdx.x); j < d; j += T::threads) out[j] = p.w[j] * (x[j] * r);
  }
}

template <typename T>
__global__ void __launch_bounds__(T::threads) rmsnorm_backward_kernel(RmsNormBackwardParams p) {
  SLM_SHARED(float, red, 2 * T::warps);
  const int d = static_cast<int>(p.d);
  const float inv_d = 1.0f / static_cast<float>(d);
  for (std::int64_t row = blockIdx.x; row < p.t; row += gridDim.x) {
    const float* x = p.x + row * p.d;
    const float* dy = p.dy + row * p.d;
    float* dx = p.dx + row * p.d;
    float sum_sq = 0.0f, sum_gwx = 0.0f;
    for (int j = static_cast<int>(threadIdx.x); j < d; j += T::threads) {
      sum_sq += x[j] * x[j];
      sum_gwx += dy[j] * p.w[j] * x[j];
    }
    const float2 s = block_sum2<T::warps>(sum_sq, sum_gwx, red);
    const float r = 1.0f / sqrtf(s.x * inv_d + p.eps);
    const float c = r * r * r * s.y * inv_d;  // r * (r^2 * mean(dy*w*x))
    if (p.accumulate) {
      for (int j = static_cast<int>(threadIdx.x); j < d; j += T::threads) dx[j] += r * dy[j] * p.w[j] - c * x[j];
    } else {
      for (int j = static_cast<int>(threadIdx.x); j < d; j += T::threads) dx[j] = r * dy[j] * p.w[j] - c * x[j];
    }
  }
}

unsigned row_blocks(std::int64_t t, int max_blocks) {
  const std::int64_t limit = max_blocks > 0 ? max_blocks : k_max_blocks;
  return static_cast<unsigned>(t < limit ? t : limit);
}

void check_shape(std::int64_t t, std::int64_t d, const char* what) {
  SLM_CHECK(t >= 0 && d >= 1 && d < (std::int64_t{1} << 31), "internal: ", what, " called with T ", t, ", D ", d,
            "; needs T >= 0 and 1 <= D < 2^31");
}

}  // namespace

void rmsnorm_forward(const RmsNormParams& p, cudaStream_t stream) {
  check_shape(p.t, p.d, "cuda::rmsnorm_forward");
  if (p.t == 0) return;
  if (p.d <= 1024) {
    using T = RmsNormTraits<128>;
    launch(rmsnorm_forward_kernel<T>, dim3(row_blocks(p.t, p.max_blocks)), dim3(T::threads), 0, stream, p);
  } else {
    using T = RmsNormTraits<256>;
    launch(rmsnorm_forward_kernel<T>, dim3(row_blocks(p.t, p.max_blocks)), dim3(T::threads), 0, stream, p);
  }
}

void rmsnorm_backward(const RmsNormBackwardParams& p, cudaStream_t stream) {
  check_shape(p.t, p.d, "cuda::rmsnorm_backward");
  if (p.t == 0) return;
  if (p.d <= 1024) {
    using T = RmsNormTraits<128>;
    launch(rmsnorm_backward_kernel<T>, dim3(row_blocks(p.t, p.max_blocks)), dim3(T::threads), 0, stream, p);
  } else {
    using T = RmsNormTraits<256>;
    launch(rmsnorm_backward_kernel<T>, dim3(row_blocks(p.t, p.max_blocks)), dim3(T::threads), 0, stream, p);
  }
}

}  // namespace slm::cuda
