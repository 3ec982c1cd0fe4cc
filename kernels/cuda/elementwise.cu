// elementwise.cu — the cast to bf16, the residual add and the embedding lookup: each a grid-stride
// loop, a float4 chunk per thread when the arrays allow it (then a scalar tail), an element per
// thread otherwise. The embedding's bad ids meet in one atomic minimum over unsigned 64-bit
// positions, which the launcher primes with all ones (-1 as std::int64_t).
// Does not hold: the CPU twins (kernels/cpu/layers.cpp), the checking of *invalid_at (the caller's).
#include "kernels/cuda/elementwise.h"

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/launch.cuh"

namespace slm::cuda {
namespace {

constexpr int k_threads = 256;
constexpr std::int64_t k_max_blocks = 4096;  // more elements are taken by grid-stride

// Four bf16 values: one 8-byte store.
struct alignas(8) Bf16x4 {
  __nv_bfloat162 lo, hi;
};

template <bool Vector>
__global__ void __launch_bounds__(k_threads) cast_to_bf16_kernel(__nv_bfloat16* out, const float* x, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t chunks = Vector ? n / 4 : 0;
  for (std::int64_t c = first; c < chunks; c += stride) {
    const float4 v = reinterpret_cast<const float4*>(x)[c];
    reinterpret_cast<Bf16x4*>(out)[c] = Bf16x4{__floats2bfloat162_rn(v.x, v.y), __floats2bfloat162_rn(v.z, v.w)};
  }
  for (std::int64_t i = chunks * 4 + first; i < n; i += stride) out[i] = __float2bfloat16_rn(x[i]);
}

template <bool Vector>
__global__ void __launch_bounds__(k_threads) add_inplace_kernel(float* x, const float* y, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t chunks = Vector ? n / 4 : 0;
  for (std::int64_t c = first; c < chunks; c += stride) {
    float4 a = reinterpret_cast<const float4*>(x)[c];
    const float4 b = reinterpret_cast<const float4*>(y)[c];
    a.x += b.x;
    a.y += b.y;
    a.z += b.z;
    a.w += b.w;
    reinterpret_cast<float4*>(x)[c] = a;
  }
  for (std::int64_t i = chunks * 4 + first; i < n; i += stride) x[i] += y[i];
}

// A table's chunk of Width elements (fp32 or bf16), as fp32.
template <int Width>
__device__ __forceinline__ std::conditional_t<Width == 4, float4, float> table_chunk(const float* table, std::int64_t i) {
  return reinterpret_cast<const std::conditional_t<Width == 4, float4, float>*>(table)[i];
}
template <int Width>
__device__ __forceinline__ std::conditional_t<Width == 4, float4, float> table_chunk(const __nv_bfloat16* table,
                                                                                    std::int64_t i) {
  if constexpr (Width == 4) {
    const Bf16x4 v = reinterpret_cast<const Bf16x4*>(table)[i];
    const float2 lo = __bfloat1622float2(v.lo), hi = __bfloat1622float2(v.hi);
    return make_float4(lo.x, lo.y, hi.x, hi.y);
  } else {
    return __bfloat162float(table[i]);
  }
}

// Width 4: four elements per chunk (D % 4 == 0, out 16-byte and the table 16- or 8-byte aligned);
// width 1: elements. The thread of a bad row's first chunk reports the row.
template <class Table, int Width>
__global__ void __launch_bounds__(k_threads) embedding_kernel(EmbeddingParams p, const Table* table) {
  using Chunk = std::conditional_t<Width == 4, float4, float>;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t per_row = p.d / Width, chunks = p.t * per_row;
  for (std::int64_t c = first; c < chunks; c += stride) {
    const std::int64_t row = c / per_row, col = c - row * per_row;
    const std::int32_t id = p.ids[row];
    Chunk value{};
    if (id >= 0 && id < p.v) {
      value = table_chunk<Width>(table, id * per_row + col);
    } else if (col == 0) {
      atomicMin(reinterpret_cast<unsigned long long*>(p.invalid_at), static_cast<unsigned long long>(row));
    }
    reinterpret_cast<Chunk*>(p.out)[c] = value;
  }
}

bool aligned(const void* p, std::uintptr_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

unsigned blocks_for(std::int64_t per_thread_items, int max_blocks) {
  const std::int64_t needed = (per_thread_items + k_threads - 1) / k_threads;
  const std::int64_t limit = max_blocks > 0 ? max_blocks : k_max_blocks;
  return static_cast<unsigned>(needed < limit ? needed : limit);
}

// Launches the lookup from a table of type Table: four elements per thread when the row length and
// the alignments allow (the table's chunk is 4 * sizeof(Table) bytes), else one.
template <class Table>
void launch_embedding(const EmbeddingParams& p, const Table* table, cudaStream_t stream) {
  if (p.d % 4 == 0 && aligned(p.out, 16) && aligned(table, 4 * sizeof(Table))) {
    launch(embedding_kernel<Table, 4>, dim3(blocks_for(p.t * (p.d / 4), p.max_blocks)), dim3(k_threads), 0, stream, p,
           table);
  } else {
    launch(embedding_kernel<Table, 1>, dim3(blocks_for(p.t * p.d, p.max_blocks)), dim3(k_threads), 0, stream, p,
           table);
  }
}

}  // namespace

void cast_to_bf16(__nv_bfloat16* out, const float* x, std::int64_t n, cudaStream_t stream, int max_blocks) {
  SLM_CHECK(n >= 0, "internal: cuda::cast_to_bf16 called with n ", n);
  if (n == 0) return;
  SLM_CHECK(out != nullptr && x != nullptr, "internal: cuda::cast_to_bf16 called with a null pointer");
  if (aligned(x, 16) && aligned(out, 8)) {
    launch(cast_to_bf16_kernel<true>, dim3(blocks_for(n / 4 + 1, max_blocks)), dim3(k_threads), 0, stream, out, x, n);
  } else {
    launch(cast_to_bf16_kernel<false>, dim3(blocks_for(n, max_blocks)), dim3(k_threads), 0, stream, out, x, n);
  }
}

void add_inplace(float* x, const float* y, std::int64_t n, cudaStream_t stream, int max_blocks) {
  SLM_CHECK(n >= 0, "internal: cuda::add_inplace called with n ", n);
  if (n == 0) return;
  SLM_CHECK(x != nullptr && y != nullptr, "internal: cuda::add_inplace called with a null pointer");
  if (aligned(x, 16) && aligned(y, 16)) {
    launch(add_inplace_kernel<true>, dim3(blocks_for(n / 4 + 1, max_blocks)), dim3(k_threads), 0, stream, x, y, n);
  } else {
    launch(add_inplace_kernel<false>, dim3(blocks_for(n, max_blocks)), dim3(k_threads), 0, stream, x, y, n);
  }
}

void embedding_forward(const EmbeddingParams& p, cudaStream_t stream) {
  SLM_CHECK(p.t >= 0 && p.d >= 1 && p.v >= 0, "internal: cuda::embedding_forward called with T ", p.t, ", D ", p.d,
            ", V ", p.v);
  SLM_CHECK(p.invalid_at != nullptr && (p.t == 0 || (p.out && (p.table || p.table_bf16) && p.ids)),
            "internal: cuda::embedding_forward called with a null pointer");
  SLM_CHECK(!(p.table && p.table_bf16), "internal: cuda::embedding_forward given both an fp32 and a bf16 table");
  // All ones: -1 as std::int64_t, and above every position for the kernel's unsigned minimum.
  SLM_CUDA_CHECK(cudaMemsetAsync(p.invalid_at, 0xFF, sizeof(std::int64_t), stream));
  if (p.t == 0) return;
  if (p.table_bf16 != nullptr) {
    launch_embedding(p, p.table_bf16, stream);
  } else {
    launch_embedding(p, p.table, stream);
  }
}

}  // namespace slm::cuda
