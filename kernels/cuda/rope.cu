// rope.cu — RoPE kernels: the cos/sin tables (float64 cos and sin, as the host code computes them)
// and the rotation, one thread per (row, i) pair of the rotate-half layout, grid-stride over all
// pairs. Consecutive threads take consecutive i of one row, so loads of x, cos and sin coalesce.
// Does not hold: the CPU twin (kernels/cpu/layers*.cpp), fusion into the QKV epilogue.
#include "kernels/cuda/rope.h"

#include "kernels/cuda/launch.cuh"

namespace slm::cuda {
namespace {

constexpr int k_threads = 256;
constexpr std::int64_t k_max_blocks = 4096;  // more pairs are taken by grid-stride

__global__ void __launch_bounds__(k_threads) rope_tables_kernel(RopeTablesParams p) {
  const std::int64_t total = p.t * p.half;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += stride) {
    const std::int64_t ti = k / p.half, i = k - ti * p.half;
    const float angle = static_cast<float>(p.positions[ti]) * p.inv_freq[i];
    p.cos[k] = static_cast<float>(cos(static_cast<double>(angle)));
    p.sin[k] = static_cast<float>(sin(static_cast<double>(angle)));
  }
}

// Sign = -1 for the forward rotation, +1 for its transpose (the backward).
template <int Sign>
__global__ void __launch_bounds__(k_threads) rope_kernel(RopeParams p) {
  const std::int64_t half = p.e / 2;
  const std::int64_t total = p.t * p.n * half;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total; k += stride) {
    const std::int64_t row = k / half, i = k - row * half;
    const std::int64_t ti = row / p.n;
    float* v = p.x + row * p.e;
    const float c = p.cos[ti * half + i], s = p.sin[ti * half + i];
    const float a = v[i], b = v[i + half];
    if (Sign < 0) {
      v[i] = a * c - b * s;
      v[i + half] = b * c + a * s;
    } else {
      v[i] = a * c + b * s;
      v[i + half] = b * c - a * s;
    }
  }
}

unsigned blocks_for(std::int64_t total, int max_blocks) {
  const std::int64_t needed = (total + k_threads - 1) / k_threads;
  const std::int64_t limit = max_blocks > 0 ? max_blocks : k_max_blocks;
  return static_cast<unsigned>(needed < limit ? needed : limit);
}

template <int Sign>
void launch_rope(const RopeParams& p, cudaStream_t stream, const char* what) {
  SLM_CHECK(p.t >= 0 && p.n >= 1 && p.e >= 0, "internal: ", what, " called with T ", p.t, ", n ", p.n, ", E ", p.e);
  const std::int64_t total = p.t * p.n * (p.e / 2);
  if (total == 0) return;
  launch(rope_kernel<Sign>, dim3(blocks_for(total, p.max_blocks)), dim3(k_threads), 0, stream, p);
}

}  // namespace

void rope_tables(const RopeTablesParams& p, cudaStream_t stream) {
  SLM_CHECK(p.t >= 0 && p.half >= 0, "internal: cuda::rope_tables called with T ", p.t, ", half ", p.half);
  const std::int64_t total = p.t * p.half;
  if (total == 0) return;
  launch(rope_tables_kernel, dim3(blocks_for(total, p.max_blocks)), dim3(k_threads), 0, stream, p);
}

void rope_forward(const RopeParams& p, cudaStream_t stream) { launch_rope<-1>(p, stream, "cuda::rope_forward"); }
void rope_backward(const RopeParams& p, cudaStream_t stream) { launch_rope<1>(p, stream, "cuda::rope_backward"); }

}  // namespace slm::cuda
