// cross_entropy.cu — chunked linear cross-entropy on the GPU, forward and backward fused.
//
// Kernels of the fp32 variant, in launch order (all on one stream):
//   compact_targets   one block: the positions of non-ignored rows in order (ballot + prefix
//                     counts per warp), their targets, their count, the first invalid target;
//   zero_ignored      dx rows of ignored (and invalid) targets set to 0;
//   per chunk of C gathered rows (chunks past the device-side count return at once):
//     chunk_gemm<nt>  z[C, V] = x[rows] w^T (fp32 SIMT tiles, rows gathered through the index);
//     softmax_grad    one block per row: online max / sum of exp over V in registers, the row's
//                     loss in double, then z rewritten in place as grad_scale * (p - onehot);
//     chunk_gemm<nn>  dx[rows] = dz w, K = V split into S slices (blockIdx.z) whose partials are
//                     added in slice order by split_reduce (S = 1 writes dx rows directly);
//   loss_total        one block adds the per-row losses in row order, in double.
// The bf16 variant has the same start and end; per chunk, gather_bf16 rounds the chunk's x rows
// to bf16, gemm_bf16_nt (gemm_mma.h) makes the logits, softmax_pieces writes the gradient as
// three bf16 pieces, 3 * S gemm_bf16_nn calls (pieces x slices of V) make partial dx rows, and
// combine_parts adds them in a fixed order.
// No float atomics, so every result has the same bits under every schedule.
// Does not hold: the declarations (cross_entropy.h), the CPU twin (kernels/cpu/cross_entropy.cpp).
#include "kernels/cuda/cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/cross_entropy.h"  // k_ignore_index
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/shared.cuh"

#include "kernels/cuda/unroll.cuh"

namespace slm::cuda {
namespace {

// A block tile BM x BN of out, K in steps of BK through shared memory, each thread a TM x TN
// register tile whose rows are strided by BM / TM and columns by BN / TN (conflict-free shared
// reads, coalesced stores). Shared rows are padded by 4 floats so the transposing stores of the
// row-major loads fall on distinct banks.
template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct SgemmTraits {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int threads_m = BM / TM, threads_n = BN / TN;
  static constexpr int threads = threads_m * threads_n;
  static constexpr int pad = 4;
  static constexpr int a_loads = BM * BK / threads, b_loads = BN * BK / threads;
  static_assert(BM % TM == 0 && BN % TN == 0, "thread tiles divide the block tile");
  static_assert(threads % 32 == 0 && threads <= 1024, "whole warps, at most 1024 threads");
  static_assert(BM * BK % threads == 0 && BN * BK % threads == 0, "tile loads are whole rounds of the block");
  static_assert((BK * (BM + pad) + BK * (BN + pad)) * 4 <= 48 * 1024, "static shared memory is at most 48 KiB");
};

using LargeTile = SgemmTraits<128, 128, 8, 8, 8>;
using SmallTile = SgemmTraits<32, 32, 8, 4, 4>;

constexpr int k_row_threads = 256;        // softmax_grad, compact_targets, loss_total, zero_ignored
constexpr int k_max_splits = k_ce_max_splits;          // S at most (workspace_sizes.h)
constexpr int k_target_blocks = k_ce_target_blocks;
constexpr int k_min_split_steps = k_ce_min_split_steps;
constexpr std::int64_t k_max_row_blocks = 1 << 16;

// One chunk product: out[m, n] = sum_k a[row(m), k] * B(k, n), with B(k, n) = b[n * ldb + k] (nt,
// b is [N, K]) or b[k * ldb + n] (nn, b is [K, N]). M = min(m_cap, *count - row0): the chunk's
// rows, known on the device only. Slice z = blockIdx.z covers k in [z * k_split, (z + 1) * k_split)
// and writes out + z * out_split_stride.
struct ChunkGemm {
  const float* a = nullptr;
  const std::int32_t* a_rows = nullptr;    // gather: a's row of product row m, or nullptr (m itself)
  std::int64_t lda = 0;
  const float* b = nullptr;
  std::int64_t ldb = 0;
  float* out = nullptr;
  const std::int32_t* out_rows = nullptr;  // scatter: out's row of product row m, or nullptr
  std::int64_t ldo = 0, out_split_stride = 0;
  const std::int32_t* count = nullptr;
  int row0 = 0, m_cap = 0, n = 0;
  std::int64_t k = 0, k_split = 0;
};

__device__ __forceinline__ int chunk_rows(const std::int32_t* count, int row0, int cap) {
  const int left = *count - row0;
  return left < cap ? left : cap;
}

template <class T, bool BKN>
__global__ void __launch_bounds__(T::threads) chunk_gemm_kernel(ChunkGemm p) {
  SLM_SHARED(float, a_tile, T::BK * (T::BM + T::pad));  // [BK][BM + pad]: a transposed
  SLM_SHARED(float, b_tile, T::BK * (T::BN + T::pad));  // [BK][BN + pad]
  const int m = chunk_rows(p.count, p.row0, p.m_cap);
  const int m0 = blockIdx.y * T::BM, n0 = blockIdx.x * T::BN;
  if (m0 >= m) return;  // the whole block: a chunk with fewer rows, or past the count
  const std::int64_t k_begin = blockIdx.z * p.k_split;
  const std::int64_t k_end = k_begin + p.k_split < p.k ? k_begin + p.k_split : p.k;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % T::threads_n, ty = tid / T::threads_n;
  float acc[T::TM][T::TN] = {};

  for (std::int64_t k0 = k_begin; k0 < k_end; k0 += T::BK) {
SLM_UNROLL
    for (int l = 0; l < T::a_loads; ++l) {  // a [BM rows][BK] -> a_tile[k][row]
      const int e = tid + l * T::threads, r = e / T::BK, kk = e % T::BK;
      const int gr = m0 + r;
      const std::int64_t gk = k0 + kk;
      float value = 0.0f;
      if (gr < m && gk < k_end) {
        const std::int64_t row = p.a_rows ? p.a_rows[gr] : gr;
        value = p.a[row * p.lda + gk];
      }
      a_tile[kk * (T::BM + T::pad) + r] = value;
    }
SLM_UNROLL
    for (int l = 0; l < T::b_loads; ++l) {
      const int e = tid + l * T::threads;
      const int c = BKN ? e % T::BN : e / T::BK, kk = BKN ? e / T::BN : e % T::BK;
      const int gc = n0 + c;
      const std::int64_t gk = k0 + kk;
      float value = 0.0f;
      if (gc < p.n && gk < k_end) value = BKN ? p.b[gk * p.ldb + gc] : p.b[static_cast<std::int64_t>(gc) * p.ldb + gk];
      b_tile[kk * (T::BN + T::pad) + c] = value;
    }
    __syncthreads();
SLM_UNROLL
    for (int kk = 0; kk < T::BK; ++kk) {
      float af[T::TM], bf[T::TN];
SLM_UNROLL
      for (int i = 0; i < T::TM; ++i) af[i] = a_tile[kk * (T::BM + T::pad) + ty + i * T::threads_m];
SLM_UNROLL
      for (int j = 0; j < T::TN; ++j) bf[j] = b_tile[kk * (T::BN + T::pad) + tx + j * T::threads_n];
SLM_UNROLL
      for (int i = 0; i < T::TM; ++i)
SLM_UNROLL
        for (int j = 0; j < T::TN; ++j) acc[i][j] = fmaf(af[i], bf[j], acc[i][j]);
    }
    __syncthreads();
  }

  float* out = p.out + blockIdx.z * p.out_split_stride;
SLM_UNROLL
  for (int i = 0; i < T::TM; ++i) {
    const int r = m0 + ty + i * T::threads_m;
    if (r >= m) continue;
    const std::int64_t row = p.out_rows ? p.out_rows[r] : r;
SLM_UNROLL
    for (int j = 0; j < T::TN; ++j) {
      const int c = n0 + tx + j * T::threads_n;
      if (c < p.n) out[row * p.ldo + c] = acc[i][j];
    }
  }
}

// Rows [0, T) whose targets are ids in [0, V), in order: index[i] = position, target[i] = id,
// *count = how many; *invalid_at = first position with a target outside [0, V) that is not the
// ignore index, or -1. One block: tiles of k_row_threads positions, a ballot per warp, then each
// warp's offset from the counts of the warps before it.
struct CompactArgs {
  const std::int32_t* targets = nullptr;
  std::int32_t* index = nullptr;
  std::int32_t* target = nullptr;
  std::int32_t* count = nullptr;
  std::int64_t* invalid_at = nullptr;
  int t = 0, v = 0, ignore = 0;
};

__global__ void __launch_bounds__(k_row_threads) compact_targets_kernel(CompactArgs p) {
  constexpr int warps = k_row_threads / 32;
  SLM_SHARED(int, warp_count, warps);
  SLM_SHARED(long long, warp_invalid, warps);
  const int lane = threadIdx.x & 31, warp = static_cast<int>(threadIdx.x >> 5);
  int running = 0;
  long long invalid = -1;
  for (int base = 0; base < p.t; base += k_row_threads) {
    const int i = base + static_cast<int>(threadIdx.x);
    const int id = i < p.t ? p.targets[i] : p.ignore;
    const bool valid = id != p.ignore && id >= 0 && id < p.v;
    if (id != p.ignore && !valid && invalid < 0) invalid = i;
    const unsigned ballot = __ballot_sync(0xffffffffu, valid);
    if (lane == 0) warp_count[warp] = __popc(ballot);
    __syncthreads();
    int offset = running, total = 0;
    for (int w = 0; w < warps; ++w) {
      if (w < warp) offset += warp_count[w];
      total += warp_count[w];
    }
    if (valid) {
      const int at = offset + __popc(ballot & ((1u << lane) - 1u));
      p.index[at] = i;
      p.target[at] = id;
    }
    running += total;
    __syncthreads();  // warp_count is rewritten by the next tile
  }
  for (int offset = 16; offset > 0; offset >>= 1) {  // the smallest invalid position, -1 as none
    const long long other = __shfl_xor_sync(0xffffffffu, invalid, offset);
    if (other >= 0 && (invalid < 0 || other < invalid)) invalid = other;
  }
  if (lane == 0) warp_invalid[warp] = invalid;
  __syncthreads();
  if (threadIdx.x == 0) {
    long long first = -1;
    for (int w = 0; w < warps; ++w)
      if (warp_invalid[w] >= 0 && (first < 0 || warp_invalid[w] < first)) first = warp_invalid[w];
    *p.count = running;
    *p.invalid_at = first;
  }
}

// dx rows whose target is not an id in [0, V) are set to 0 (one block per row, grid-stride).
__global__ void __launch_bounds__(k_row_threads) zero_ignored_kernel(float* dx, const std::int32_t* targets,
                                                                     std::int64_t t, std::int64_t d, int v) {
  for (std::int64_t row = blockIdx.x; row < t; row += gridDim.x) {
    const int id = targets[row];
    if (id >= 0 && id < v) continue;
    for (std::int64_t j = threadIdx.x; j < d; j += k_row_threads) dx[row * d + j] = 0.0f;
  }
}

// Running (max, sum of exp(z - max)) pairs: the combination of two partial rows.
__device__ __forceinline__ void combine(float& m, float& s, float m2, float s2) {
  const float top = m > m2 ? m : m2;
  if (top == -INFINITY) return;  // both empty (a thread past V): keep (-inf, 0)
  s = s * expf(m - top) + s2 * expf(m2 - top);
  m = top;
}

struct SoftmaxArgs {
  float* z = nullptr;                    // [C, V]: logits in, grad_scale * (p - onehot) out
  const std::int32_t* target = nullptr;  // [count]: compacted targets
  double* row_loss = nullptr;            // [count]
  const std::int32_t* count = nullptr;
  int row0 = 0, cap = 0;
  std::int64_t v = 0;
  float grad_scale = 1.0f;
};

// The row's (max, sum of exp(z - max)) over its V logits, the same bits in every thread: each
// thread runs over a stride of the row in registers, then lanes and warps combine in a fixed order.
template <class Smem>
__device__ __forceinline__ float2 row_max_sum(const float* z, std::int64_t v, Smem red_max, Smem red_sum) {
  constexpr int warps = k_row_threads / 32;
  float m = -INFINITY, s = 0.0f;
  for (std::int64_t j = threadIdx.x; j < v; j += k_row_threads) {
    const float value = z[j];
    if (value > m) {
      s = s * expf(m - value) + 1.0f;
      m = value;
    } else {
      s += expf(value - m);  // NaN logits fall here and stay NaN
    }
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, offset), s2 = __shfl_xor_sync(0xffffffffu, s, offset);
    combine(m, s, m2, s2);
  }
  const int lane = threadIdx.x & 31, warp = static_cast<int>(threadIdx.x >> 5);
  if (lane == 0) {
    red_max[warp] = m;
    red_sum[warp] = s;
  }
  __syncthreads();
  float max_z = red_max[0], sum = red_sum[0];
  for (int w = 1; w < warps; ++w) combine(max_z, sum, red_max[w], red_sum[w]);
  return make_float2(max_z, sum);
}

__global__ void __launch_bounds__(k_row_threads) softmax_grad_kernel(SoftmaxArgs p) {
  SLM_SHARED(float, red_max, k_row_threads / 32);
  SLM_SHARED(float, red_sum, k_row_threads / 32);
  const int r = static_cast<int>(blockIdx.x);
  if (r >= chunk_rows(p.count, p.row0, p.cap)) return;
  float* z = p.z + static_cast<std::int64_t>(r) * p.v;
  const int target = p.target[p.row0 + r];
  const float z_target = z[target];  // read by all before the barrier in row_max_sum, written after it
  const float2 ms = row_max_sum(z, p.v, red_max, red_sum);
  if (threadIdx.x == 0)
    p.row_loss[p.row0 + r] = static_cast<double>(ms.x) + log(static_cast<double>(ms.y)) - z_target;
  const float inv = p.grad_scale / ms.y;
  for (std::int64_t j = threadIdx.x; j < p.v; j += k_row_threads) {
    float g = expf(z[j] - ms.x) * inv;
    if (j == target) g -= p.grad_scale;
    z[j] = g;
  }
}

// dx[index[row0 + r]] = sum over slices s (in order) of partial[s][r] for the chunk's rows.
struct SplitReduceArgs {
  float* dx = nullptr;                  // [T, D]
  const float* partial = nullptr;       // [S][C][D]
  const std::int32_t* index = nullptr;  // [count]
  const std::int32_t* count = nullptr;
  int row0 = 0, cap = 0, splits = 0;
  std::int64_t d = 0;
};

__global__ void __launch_bounds__(k_row_threads) split_reduce_kernel(SplitReduceArgs p) {
  const int m = chunk_rows(p.count, p.row0, p.cap);
  const std::int64_t slice = static_cast<std::int64_t>(p.cap) * p.d;
  for (int r = static_cast<int>(blockIdx.x); r < m; r += gridDim.x) {
    float* out = p.dx + static_cast<std::int64_t>(p.index[p.row0 + r]) * p.d;
    for (std::int64_t j = threadIdx.x; j < p.d; j += k_row_threads) {
      const float* from = p.partial + r * p.d + j;
      float sum = from[0];
      for (int s = 1; s < p.splits; ++s) sum += from[s * slice];
      out[j] = sum;
    }
  }
}

// *loss_sum = the per-row losses added in a fixed order (double), *counted = the row count.
__global__ void __launch_bounds__(k_row_threads) loss_total_kernel(const double* row_loss,
                                                                   const std::int32_t* count, double* loss_sum,
                                                                   std::int64_t* counted) {
  constexpr int warps = k_row_threads / 32;
  SLM_SHARED(double, red, warps);
  const int n = *count;
  double acc = 0.0;
  for (int i = static_cast<int>(threadIdx.x); i < n; i += k_row_threads) acc += row_loss[i];
  for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < warps; ++w) total += red[w];
    *loss_sum = total;
    *counted = n;
  }
}

// --- The bf16 variant's kernels ---------------------------------------------------------------

// xb[r] = bf16(x[index[row0 + r]]) for the chunk's rows r < M; zeros for the rows past M and the
// padding columns [D, ldx) (so the tensor-core product can take 16-byte loads). One block per row.
struct GatherArgs {
  __nv_bfloat16* xb = nullptr;          // [C][ldx]
  const float* x = nullptr;             // [T, D]
  const std::int32_t* index = nullptr;  // [count]
  const std::int32_t* count = nullptr;
  int row0 = 0, cap = 0;
  std::int64_t d = 0, ldx = 0;
};

__global__ void __launch_bounds__(k_row_threads) gather_bf16_kernel(GatherArgs p) {
  const int r = static_cast<int>(blockIdx.x);
  const bool live = r < chunk_rows(p.count, p.row0, p.cap);
  const float* from = live ? p.x + static_cast<std::int64_t>(p.index[p.row0 + r]) * p.d : p.x;
  __nv_bfloat16* to = p.xb + r * p.ldx;
  for (std::int64_t j = threadIdx.x; j < p.ldx; j += k_row_threads)
    to[j] = __float2bfloat16(live && j < p.d ? from[j] : 0.0f);
}

// As softmax_grad_kernel, but the gradient g = grad_scale * (p - onehot) of row r goes out as three
// bf16 pieces hi = bf16(g), mid = bf16(g - hi), lo = bf16(g - hi - mid) (hi + mid + lo carries
// g's 24 bits) into pieces[0..2][r][0..V), zeros in the padding columns and in rows past M.
struct PiecesArgs {
  const float* z = nullptr;              // [C, V] logits
  __nv_bfloat16* pieces = nullptr;       // [3][C][ldp]
  const std::int32_t* target = nullptr;  // [count]
  double* row_loss = nullptr;            // [count]
  const std::int32_t* count = nullptr;
  int row0 = 0, cap = 0;
  std::int64_t v = 0, ldp = 0, piece_stride = 0;
  float grad_scale = 1.0f;
};

__global__ void __launch_bounds__(k_row_threads) softmax_pieces_kernel(PiecesArgs p) {
  SLM_SHARED(float, red_max, k_row_threads / 32);
  SLM_SHARED(float, red_sum, k_row_threads / 32);
  const int r = static_cast<int>(blockIdx.x);
  __nv_bfloat16* out = p.pieces + r * p.ldp;
  const __nv_bfloat16 zero = __float2bfloat16(0.0f);
  if (r >= chunk_rows(p.count, p.row0, p.cap)) {  // the whole block: a row past the chunk's rows
    for (std::int64_t j = threadIdx.x; j < p.ldp; j += k_row_threads)
      out[j] = out[j + p.piece_stride] = out[j + 2 * p.piece_stride] = zero;
    return;
  }
  const float* z = p.z + static_cast<std::int64_t>(r) * p.v;
  const int target = p.target[p.row0 + r];
  const float2 ms = row_max_sum(z, p.v, red_max, red_sum);
  if (threadIdx.x == 0)
    p.row_loss[p.row0 + r] = static_cast<double>(ms.x) + log(static_cast<double>(ms.y)) - z[target];
  const float inv = p.grad_scale / ms.y;
  for (std::int64_t j = threadIdx.x; j < p.ldp; j += k_row_threads) {
    float g = 0.0f;
    if (j < p.v) {
      g = expf(z[j] - ms.x) * inv;
      if (j == target) g -= p.grad_scale;
    }
    const __nv_bfloat16 hi = __float2bfloat16(g);
    const float rest = g - __bfloat162float(hi);
    const __nv_bfloat16 mid = __float2bfloat16(rest);
    out[j] = hi;
    out[j + p.piece_stride] = mid;
    out[j + 2 * p.piece_stride] = __float2bfloat16(rest - __bfloat162float(mid));
  }
}

// dx[index[row0 + r]] = the sum of the parts outs[0..parts)[r], added from the last part to the
// first (small pieces first), for the chunk's rows.
struct CombineArgs {
  float* dx = nullptr;                  // [T, D]
  const float* outs = nullptr;          // [parts][C][D]
  const std::int32_t* index = nullptr;  // [count]
  const std::int32_t* count = nullptr;
  int row0 = 0, cap = 0, parts = 0;
  std::int64_t d = 0;
};

__global__ void __launch_bounds__(k_row_threads) combine_parts_kernel(CombineArgs p) {
  const int m = chunk_rows(p.count, p.row0, p.cap);
  const std::int64_t part = static_cast<std::int64_t>(p.cap) * p.d;
  for (int r = static_cast<int>(blockIdx.x); r < m; r += gridDim.x) {
    float* to = p.dx + static_cast<std::int64_t>(p.index[p.row0 + r]) * p.d;
    for (std::int64_t j = threadIdx.x; j < p.d; j += k_row_threads) {
      const float* from = p.outs + r * p.d + j;
      float sum = from[(p.parts - 1) * part];
      for (int q = p.parts - 2; q >= 0; --q) sum += from[q * part];
      to[j] = sum;
    }
  }
}

// Where the workspace's arrays start, and the chunking, for one call's shapes and tile.
struct Plan {
  int c = 0;                 // rows per chunk
  int splits = 1;            // S of the dx product
  std::int64_t k_split = 0;  // vocabulary rows per slice (a multiple of BK)
  std::size_t row_loss = 0, logits = 0, partial = 0, index = 0, target = 0, count = 0, bytes = 0;
};

std::size_t align_up(std::size_t bytes) { return workspace_align(bytes); }

template <class T>
Plan make_plan(const CrossEntropyParams& p) {
  Plan plan;
  plan.c = static_cast<int>(std::max<std::int64_t>(1, std::min(p.chunk, p.t)));
  const std::int64_t tiles = ((plan.c + T::BM - 1) / T::BM) * ((p.d + T::BN - 1) / T::BN);
  const std::int64_t want = (k_target_blocks + tiles - 1) / tiles;
  const std::int64_t by_k = (p.v + T::BK * k_min_split_steps - 1) / (T::BK * k_min_split_steps);
  const std::int64_t splits = std::max<std::int64_t>(1, std::min<std::int64_t>({k_max_splits, want, by_k}));
  plan.k_split = ((p.v + splits - 1) / splits + T::BK - 1) / T::BK * T::BK;
  plan.splits = static_cast<int>((p.v + plan.k_split - 1) / plan.k_split);
  const std::size_t t = static_cast<std::size_t>(p.t), c = static_cast<std::size_t>(plan.c);
  std::size_t at = 0;
  plan.row_loss = at, at += align_up(t * sizeof(double));
  plan.logits = at, at += align_up(c * static_cast<std::size_t>(p.v) * sizeof(float));
  plan.partial = at, at += plan.splits > 1 ? align_up(plan.splits * c * static_cast<std::size_t>(p.d) * sizeof(float)) : 0;
  plan.index = at, at += align_up(t * sizeof(std::int32_t));
  plan.target = at, at += align_up(t * sizeof(std::int32_t));
  plan.count = at, at += align_up(sizeof(std::int32_t));
  plan.bytes = at;
  return plan;
}

template <class T>
void run_chunks(const CrossEntropyParams& p, const Plan& plan, unsigned char* ws, cudaStream_t stream) {
  float* logits = reinterpret_cast<float*>(ws + plan.logits);
  float* partial = reinterpret_cast<float*>(ws + plan.partial);
  const auto* index = reinterpret_cast<const std::int32_t*>(ws + plan.index);
  const auto* target = reinterpret_cast<const std::int32_t*>(ws + plan.target);
  const auto* count = reinterpret_cast<const std::int32_t*>(ws + plan.count);
  auto* row_loss = reinterpret_cast<double*>(ws + plan.row_loss);
  const int c = plan.c, n = static_cast<int>(p.v), d = static_cast<int>(p.d);
  const unsigned row_tiles = static_cast<unsigned>((c + T::BM - 1) / T::BM);
  for (int row0 = 0; row0 < p.t; row0 += c) {  // chunks past the device-side count return at once
    ChunkGemm logit{p.x, index + row0, p.d, p.w, p.d, logits, nullptr, p.v, 0, count, row0, c, n, p.d, p.d};
    launch(chunk_gemm_kernel<T, false>, dim3(static_cast<unsigned>((p.v + T::BN - 1) / T::BN), row_tiles, 1), dim3(T::threads),
           0, stream, logit);
    launch(softmax_grad_kernel, dim3(static_cast<unsigned>(c)), dim3(k_row_threads), 0, stream,
           SoftmaxArgs{logits, target, row_loss, count, row0, c, p.v, p.grad_scale});
    const bool split = plan.splits > 1;
    ChunkGemm back{logits, nullptr, p.v, p.w, p.d, split ? partial : p.dx, split ? nullptr : index + row0, p.d,
                   static_cast<std::int64_t>(c) * p.d, count, row0, c, d, p.v, plan.k_split};
    launch(chunk_gemm_kernel<T, true>, dim3(static_cast<unsigned>((p.d + T::BN - 1) / T::BN), row_tiles,
                                            static_cast<unsigned>(plan.splits)),
           dim3(T::threads), 0, stream, back);
    if (split)
      launch(split_reduce_kernel, dim3(static_cast<unsigned>(std::min<std::int64_t>(c, k_max_row_blocks))),
             dim3(k_row_threads), 0, stream, SplitReduceArgs{p.dx, partial, index, count, row0, c, plan.splits, p.d});
  }
}

// The compaction of the targets and the zeroed dx rows of ignored targets: both variants' start.
void launch_prologue(const std::int32_t* targets, float* dx, std::int64_t* invalid_at, std::int32_t* index,
                     std::int32_t* target, std::int32_t* count, std::int64_t t, std::int64_t d, std::int64_t v,
                     cudaStream_t stream) {
  launch(compact_targets_kernel, dim3(1), dim3(k_row_threads), 0, stream,
         CompactArgs{targets, index, target, count, invalid_at, static_cast<int>(t), static_cast<int>(v),
                     cpu::k_ignore_index});
  if (t > 0)
    launch(zero_ignored_kernel, dim3(static_cast<unsigned>(std::min(t, k_max_row_blocks))), dim3(k_row_threads), 0,
           stream, dx, targets, t, d, static_cast<int>(v));
}

template <class T>
void forward_backward(const CrossEntropyParams& p, cudaStream_t stream) {
  const Plan plan = make_plan<T>(p);
  SLM_CHECK(plan.c <= 65535, "internal: cuda::cross_entropy_forward_backward chunk ",
            plan.c, " is above 65535 rows (one block per row)");
  auto* ws = static_cast<unsigned char*>(p.workspace);
  auto* count = reinterpret_cast<std::int32_t*>(ws + plan.count);
  launch_prologue(p.targets, p.dx, p.invalid_at, reinterpret_cast<std::int32_t*>(ws + plan.index),
                  reinterpret_cast<std::int32_t*>(ws + plan.target), count, p.t, p.d, p.v, stream);
  if (p.t > 0) run_chunks<T>(p, plan, ws, stream);
  launch(loss_total_kernel, dim3(1), dim3(k_row_threads), 0, stream,
         static_cast<const double*>(reinterpret_cast<double*>(ws + plan.row_loss)), static_cast<const std::int32_t*>(count),
         p.loss_sum, p.counted);
}

void check_params(const CrossEntropyParams& p) {
  constexpr std::int64_t k_int_max = (std::int64_t{1} << 31) - 1;
  SLM_CHECK(p.t >= 0 && p.t <= k_int_max && p.d >= 1 && p.d <= k_int_max && p.v >= 1 && p.v <= k_int_max && p.chunk >= 1,
            "internal: cuda::cross_entropy_forward_backward called with T ", p.t, ", D ", p.d, ", V ", p.v, ", chunk ",
            p.chunk, "; needs 0 <= T < 2^31, 1 <= D, V < 2^31 and chunk >= 1");
}

}  // namespace

std::size_t cross_entropy_workspace_bytes(const CrossEntropyParams& p) {
  check_params(p);
  return p.tile == CrossEntropyTile::large ? make_plan<LargeTile>(p).bytes : make_plan<SmallTile>(p).bytes;
}

void cross_entropy_forward_backward(const CrossEntropyParams& p, cudaStream_t stream) {
  check_params(p);
  SLM_CHECK(p.loss_sum && p.counted && p.invalid_at && p.workspace && (p.t == 0 || (p.dx && p.x && p.w && p.targets)),
            "internal: cuda::cross_entropy_forward_backward called with a null pointer");
  SLM_CHECK(reinterpret_cast<std::uintptr_t>(p.workspace) % 16 == 0,
            "internal: cuda::cross_entropy_forward_backward needs a 16-byte aligned workspace");
  switch (p.tile) {
    case CrossEntropyTile::large: forward_backward<LargeTile>(p, stream); break;
    case CrossEntropyTile::small: forward_backward<SmallTile>(p, stream); break;
  }
}

namespace {

// --- The bf16 variant's host side --------------------------------------------------------------

using Bf16Plan = CrossEntropyBf16Layout;

Bf16Plan make_bf16_plan(const CrossEntropyBf16Params& p) {
  return cross_entropy_bf16_layout(p.t, p.d, p.v, p.chunk, p.tile == GemmTile::large);
}

void check_bf16_params(const CrossEntropyBf16Params& p) {
  CrossEntropyParams shape;
  shape.t = p.t, shape.d = p.d, shape.v = p.v, shape.chunk = p.chunk;
  check_params(shape);
}

void run_bf16_chunks(const CrossEntropyBf16Params& p, const Bf16Plan& plan, unsigned char* ws, cudaStream_t stream) {
  float* logits = reinterpret_cast<float*>(ws + plan.logits);
  auto* pieces = reinterpret_cast<__nv_bfloat16*>(ws + plan.pieces);
  auto* xb = reinterpret_cast<__nv_bfloat16*>(ws + plan.xb);
  float* outs = reinterpret_cast<float*>(ws + plan.outs);
  const auto* index = reinterpret_cast<const std::int32_t*>(ws + plan.index);
  const auto* target = reinterpret_cast<const std::int32_t*>(ws + plan.target);
  const auto* count = reinterpret_cast<const std::int32_t*>(ws + plan.count);
  auto* row_loss = reinterpret_cast<double*>(ws + plan.row_loss);
  const int c = plan.c, v = static_cast<int>(p.v), d = static_cast<int>(p.d);
  const std::int64_t piece_stride = static_cast<std::int64_t>(c) * plan.ldp, part = static_cast<std::int64_t>(c) * d;
  const unsigned rows = static_cast<unsigned>(c);
  for (int row0 = 0; row0 < p.t; row0 += c) {
    launch(gather_bf16_kernel, dim3(rows), dim3(k_row_threads), 0, stream,
           GatherArgs{xb, p.x, index, count, row0, c, p.d, plan.ldx});
    gemm_bf16_nt({xb, p.w, logits, c, v, d, static_cast<int>(plan.ldx), d, v}, p.tile, stream);
    launch(softmax_pieces_kernel, dim3(rows), dim3(k_row_threads), 0, stream,
           PiecesArgs{logits, pieces, target, row_loss, count, row0, c, p.v, plan.ldp, piece_stride, p.grad_scale});
    for (int s = 0; s < plan.splits; ++s) {
      const std::int64_t k0 = s * plan.k_split;
      const int k = static_cast<int>(std::min(plan.k_split, p.v - k0));
      for (int q = 0; q < 3; ++q)
        gemm_bf16_nn({pieces + q * piece_stride + k0, p.w + k0 * p.d, outs + (3 * s + q) * part, c, d, k,
                      static_cast<int>(plan.ldp), d, d},
                     p.tile, stream);
    }
    launch(combine_parts_kernel, dim3(static_cast<unsigned>(std::min<std::int64_t>(c, k_max_row_blocks))),
           dim3(k_row_threads), 0, stream, CombineArgs{p.dx, outs, index, count, row0, c, 3 * plan.splits, p.d});
  }
}

}  // namespace

std::size_t cross_entropy_bf16_workspace_bytes(const CrossEntropyBf16Params& p) {
  check_bf16_params(p);
  return make_bf16_plan(p).bytes;
}

void cross_entropy_forward_backward_bf16(const CrossEntropyBf16Params& p, cudaStream_t stream) {
  check_bf16_params(p);
  SLM_CHECK(p.loss_sum && p.counted && p.invalid_at && p.workspace && (p.t == 0 || (p.dx && p.x && p.w && p.targets)),
            "internal: cuda::cross_entropy_forward_backward_bf16 called with a null pointer");
  SLM_CHECK(reinterpret_cast<std::uintptr_t>(p.workspace) % 16 == 0,
            "internal: cuda::cross_entropy_forward_backward_bf16 needs a 16-byte aligned workspace");
  const Bf16Plan plan = make_bf16_plan(p);
  SLM_CHECK(plan.c <= 65535, "internal: cuda::cross_entropy_forward_backward_bf16 chunk ", plan.c,
            " is above 65535 rows (one block per row)");
  auto* ws = static_cast<unsigned char*>(p.workspace);
  auto* count = reinterpret_cast<std::int32_t*>(ws + plan.count);
  launch_prologue(p.targets, p.dx, p.invalid_at, reinterpret_cast<std::int32_t*>(ws + plan.index),
                  reinterpret_cast<std::int32_t*>(ws + plan.target), count, p.t, p.d, p.v, stream);
  if (p.t > 0) run_bf16_chunks(p, plan, ws, stream);
  launch(loss_total_kernel, dim3(1), dim3(k_row_threads), 0, stream,
         static_cast<const double*>(reinterpret_cast<double*>(ws + plan.row_loss)), static_cast<const std::int32_t*>(count),
         p.loss_sum, p.counted);
}

}  // namespace slm::cuda
