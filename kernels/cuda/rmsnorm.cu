// rmsnorm.cu — RMSNorm forward and backward kernels: one block per row (grid-stride over rows),
// each thread strides over the row's D elements, fp32 sums reduced by warp shuffles and then
// across warps through shared memory. Two passes over the row: sums, then the elementwise write
// (each thread writes only the elements it read, so out may alias x and dx may alias dy).
// Rows are read and written as float4 when D % 4 == 0 and the arrays are 16-byte aligned; the
// optional bf16 copy of the forward's output is written element by element.
// Does not hold: the CPU twin (kernels/cpu/layers*.cpp).
#include "kernels/cuda/rmsnorm.h"

#include <cstdint>

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

// About two waves of 128-thread blocks on an H100; more rows are taken by grid-stride.
constexpr std::int64_t k_max_blocks = 4096;

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

// V consecutive floats of a row: one float4 access for V = 4 (16-byte aligned), else one float.
template <int V>
__device__ __forceinline__ void load(const float* p, float (&v)[V]) {
  if constexpr (V == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  } else {
    v[0] = *p;
  }
}
template <int V>
__device__ __forceinline__ void store(float* p, const float (&v)[V]) {
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
    *p = v[0];
  }
}

// V = 4: rows are read and written as float4 (D % 4 == 0, 16-byte aligned arrays); V = 1 otherwise.
template <typename T, int V>
__global__ void __launch_bounds__(T::threads) rmsnorm_forward_kernel(RmsNormParams p) {
  SLM_SHARED(float, red, 2 * T::warps);
  const int chunks = static_cast<int>(p.d / V);
  const float inv_d = 1.0f / static_cast<float>(p.d);
  for (std::int64_t row = blockIdx.x; row < p.t; row += gridDim.x) {
    const float* x = p.x + row * p.d;
    float* out = p.out != nullptr ? p.out + row * p.d : nullptr;
    float sum = 0.0f;
    for (int c = static_cast<int>(threadIdx.x); c < chunks; c += T::threads) {
      float xv[V];
      load<V>(x + c * V, xv);
      for (int k = 0; k < V; ++k) sum += xv[k] * xv[k];
    }
    const float total = block_sum2<T::warps>(sum, 0.0f, red).x;
    const float r = 1.0f / sqrtf(total * inv_d + p.eps);
    for (int c = static_cast<int>(threadIdx.x); c < chunks; c += T::threads) {
      float xv[V], wv[V];
      load<V>(x + c * V, xv);
      load<V>(p.w + c * V, wv);
      for (int k = 0; k < V; ++k) xv[k] = wv[k] * (xv[k] * r);
      if (out != nullptr) store<V>(out + c * V, xv);
      if (p.out_bf16 != nullptr) {
        for (int k = 0; k < V; ++k) p.out_bf16[row * p.d + c * V + k] = __float2bfloat16_rn(xv[k]);
      }
    }
  }
}

template <typename T, int V>
__global__ void __launch_bounds__(T::threads) rmsnorm_backward_kernel(RmsNormBackwardParams p) {
  SLM_SHARED(float, red, 2 * T::warps);
  const int chunks = static_cast<int>(p.d / V);
  const float inv_d = 1.0f / static_cast<float>(p.d);
  for (std::int64_t row = blockIdx.x; row < p.t; row += gridDim.x) {
    const float* x = p.x + row * p.d;
    const float* dy = p.dy + row * p.d;
    float* dx = p.dx + row * p.d;
    float sum_sq = 0.0f, sum_gwx = 0.0f;
    for (int c = static_cast<int>(threadIdx.x); c < chunks; c += T::threads) {
      float xv[V], gv[V], wv[V];
      load<V>(x + c * V, xv);
      load<V>(dy + c * V, gv);
      load<V>(p.w + c * V, wv);
      for (int k = 0; k < V; ++k) {
        sum_sq += xv[k] * xv[k];
        sum_gwx += gv[k] * wv[k] * xv[k];
      }
    }
    const float2 s = block_sum2<T::warps>(sum_sq, sum_gwx, red);
    const float r = 1.0f / sqrtf(s.x * inv_d + p.eps);
    const float c_x = r * r * r * s.y * inv_d;  // r * (r^2 * mean(dy*w*x))
    for (int c = static_cast<int>(threadIdx.x); c < chunks; c += T::threads) {
      float xv[V], gv[V], wv[V], out[V];
      load<V>(x + c * V, xv);
      load<V>(dy + c * V, gv);
      load<V>(p.w + c * V, wv);
      if (p.accumulate) {
        load<V>(dx + c * V, out);
      } else {
        for (int k = 0; k < V; ++k) out[k] = 0.0f;
      }
      for (int k = 0; k < V; ++k) out[k] += r * gv[k] * wv[k] - c_x * xv[k];
      store<V>(dx + c * V, out);
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

unsigned row_blocks(std::int64_t t, int max_blocks) {
  const std::int64_t limit = max_blocks > 0 ? max_blocks : k_max_blocks;
  return static_cast<unsigned>(t < limit ? t : limit);
}

void check_shape(std::int64_t t, std::int64_t d, const char* what) {
  SLM_CHECK(t >= 0 && d >= 1 && d < (std::int64_t{1} << 31), "internal: ", what, " called with T ", t, ", D ", d,
            "; needs T >= 0 and 1 <= D < 2^31");
}

// The block size by row length (128 threads up to D = 1024, 256 above) and float4 access when
// every row is 16-byte aligned.
template <template <typename, int> class Kernel, typename P>
void launch_rows(const P& p, bool vector, cudaStream_t stream) {
  const dim3 grid(row_blocks(p.t, p.max_blocks));
  using Small = RmsNormTraits<128>;
  using Large = RmsNormTraits<256>;
  if (p.d <= 1024) {
    vector ? launch(Kernel<Small, 4>::kernel, grid, dim3(Small::threads), 0, stream, p)
           : launch(Kernel<Small, 1>::kernel, grid, dim3(Small::threads), 0, stream, p);
  } else {
    vector ? launch(Kernel<Large, 4>::kernel, grid, dim3(Large::threads), 0, stream, p)
           : launch(Kernel<Large, 1>::kernel, grid, dim3(Large::threads), 0, stream, p);
  }
}

template <typename T, int V>
struct ForwardKernel {
  static constexpr auto kernel = rmsnorm_forward_kernel<T, V>;
};
template <typename T, int V>
struct BackwardKernel {
  static constexpr auto kernel = rmsnorm_backward_kernel<T, V>;
};

}  // namespace

void rmsnorm_forward(const RmsNormParams& p, cudaStream_t stream) {
  check_shape(p.t, p.d, "cuda::rmsnorm_forward");
  if (p.t == 0) return;
  SLM_CHECK(p.out != nullptr || p.out_bf16 != nullptr, "internal: cuda::rmsnorm_forward without an output");
  const bool vector = p.d % 4 == 0 && aligned16(p.out) && aligned16(p.x) && aligned16(p.w);
  launch_rows<ForwardKernel>(p, vector, stream);
}

void rmsnorm_backward(const RmsNormBackwardParams& p, cudaStream_t stream) {
  check_shape(p.t, p.d, "cuda::rmsnorm_backward");
  if (p.t == 0) return;
  const bool vector = p.d % 4 == 0 && aligned16(p.dx) && aligned16(p.dy) && aligned16(p.x) && aligned16(p.w);
  launch_rows<BackwardKernel>(p, vector, stream);
}

}  // namespace slm::cuda
