// rope.cu — RoPE kernels: the cos/sin tables (float64 cos and sin, as the host code computes them)
// and the rotation of the rotate-half layout. A warp per row (a token's table row, or one head of
// a token), grid-stride over rows; its lanes take consecutive i < E/2, so loads of x, cos and sin
// coalesce, and the row's token index costs one division per row.
// Does not hold: the CPU twin (kernels/cpu/layers*.cpp), fusion into the QKV epilogue.
#include "kernels/cuda/rope.h"

#include "kernels/cuda/launch.cuh"

namespace slm::cuda {
namespace {

constexpr int k_threads = 256;
constexpr int k_warps = k_threads / 32;
constexpr std::int64_t k_max_blocks = 4096;  // more rows are taken by grid-stride

// The first row of this thread's warp and the stride between its rows: a warp per row, grid-stride.
__device__ __forceinline__ std::int64_t first_warp() {
  return static_cast<std::int64_t>(blockIdx.x) * k_warps + static_cast<std::int64_t>(threadIdx.x >> 5);
}
__device__ __forceinline__ std::int64_t warp_stride() { return static_cast<std::int64_t>(gridDim.x) * k_warps; }

__global__ void __launch_bounds__(k_threads) rope_tables_kernel(RopeTablesParams p) {
  const int lane = static_cast<int>(threadIdx.x & 31), half = static_cast<int>(p.half);
  for (std::int64_t ti = first_warp(); ti < p.t; ti += warp_stride()) {
    const float position = static_cast<float>(p.positions[ti]);
    for (int i = lane; i < half; i += 32) {
      const float angle = position * p.inv_freq[i];
      p.cos[ti * half + i] = static_cast<float>(cos(static_cast<double>(angle)));
      p.sin[ti * half + i] = static_cast<float>(sin(static_cast<double>(angle)));
    }
  }
}

// Sign = -1 for the forward rotation, +1 for its transpose (the backward). A warp per (token,
// head) row, its lanes over i < E/2: one division per row, not per element.
template <int Sign>
__global__ void __launch_bounds__(k_threads) rope_kernel(RopeParams p) {
  const int lane = static_cast<int>(threadIdx.x & 31), half = static_cast<int>(p.e / 2);
  const std::int64_t rows = p.t * p.n;
  for (std::int64_t row = first_warp(); row < rows; row += warp_stride()) {
    const std::int64_t ti = row / p.n;
    float* v = p.x + row * p.e;
    const float* cos_row = p.cos + ti * half;
    const float* sin_row = p.sin + ti * half;
    for (int i = lane; i < half; i += 32) {
      const float c = cos_row[i], s = sin_row[i];
      const float a = v[i], b = v[i + half];
      const float lo = Sign < 0 ? a * c - b * s : a * c + b * s;
      const float hi = Sign < 0 ? b * c + a * s : b * c - a * s;
      v[i] = lo;
      v[i + half] = hi;
      if (p.x_bf16 != nullptr) {
        p.x_bf16[row * p.e + i] = __float2bfloat16_rn(lo);
        p.x_bf16[row * p.e + i + half] = __float2bfloat16_rn(hi);
      }
    }
    if (p.x_bf16 != nullptr && lane == 0 && p.e % 2 == 1) p.x_bf16[row * p.e + p.e - 1] = __float2bfloat16_rn(v[p.e - 1]);
  }
}

unsigned blocks_for(std::int64_t rows, int max_blocks) {
  const std::int64_t needed = (rows + k_warps - 1) / k_warps;
  const std::int64_t limit = max_blocks > 0 ? max_blocks : k_max_blocks;
  return static_cast<unsigned>(needed < limit ? needed : limit);
}

template <int Sign>
void launch_rope(const RopeParams& p, cudaStream_t stream, const char* what) {
  SLM_CHECK(p.t >= 0 && p.n >= 1 && p.e >= 0 && p.e < (std::int64_t{1} << 31), "internal: ", what, " called with T ",
            p.t, ", n ", p.n, ", E ", p.e);
  if (p.t * p.n * (p.e / 2) == 0) return;
  launch(rope_kernel<Sign>, dim3(blocks_for(p.t * p.n, p.max_blocks)), dim3(k_threads), 0, stream, p);
}

}  // namespace

void rope_tables(const RopeTablesParams& p, cudaStream_t stream) {
  SLM_CHECK(p.t >= 0 && p.half >= 0 && p.half < (std::int64_t{1} << 31), "internal: cuda::rope_tables called with T ",
            p.t, ", half ", p.half);
  if (p.t * p.half == 0) return;
  launch(rope_tables_kernel, dim3(blocks_for(p.t, p.max_blocks)), dim3(k_threads), 0, stream, p);
}

void rope_forward(const RopeParams& p, cudaStream_t stream) { launch_rope<-1>(p, stream, "cuda::rope_forward"); }
void rope_backward(const RopeParams& p, cudaStream_t stream) { launch_rope<1>(p, stream, "cuda::rope_backward"); }

}  // namespace slm::cuda
