// lora.cu — fused LoRA forward and backward kernels, fp32 SIMT tiles (at ranks 1..128 the
// low-rank products are bound by memory, not by arithmetic; no tensor cores needed).
//
// Three kernels (and a small fourth), all built from one tile vocabulary: a [BK, Rows] strip of
// activations times a [BK, R] strip of an adapter matrix into a Rows x R register tile, R the rank
// rounded up to 8, 16, 32, 64 or 128 and zero-padded, Rows 32 or 64:
//   lora_rows_kernel<Forward = true>:  per block of rows, xa = (x * mask) A^T (reduced over K),
//       kept in shared memory and written out, then y += scale * xa B^T over all N columns;
//   lora_rows_kernel<Forward = false>: per block of rows, g = dy B (reduced over N), written out,
//       then dx += scale * (g A) * mask over all K columns;
//   lora_weight_grad_kernel: per 64 columns of db (of N) or of da (of K), db += scale * dy^T xa
//       or da += scale * g^T (x * mask), reducing over all of M in order, or over one range of M
//       into a workspace that lora_reduce_splits_kernel adds up in order.
// Dropout masks come from the caller's buffer or from the CPU step's counter-based hash, computed
// where x is read. x and dy are read as fp32 or bf16 (converted to fp32 where they are loaded into
// shared memory). Does not hold: the CPU twin (kernels/cpu/lora.cpp), bf16 adapters or outputs,
// vectorized or cp.async loads, fusion into the base GEMM's epilogue.
#include "kernels/cuda/lora.h"

#include <cuda_bf16.h>

#include <cmath>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/shared.cuh"
#include "kernels/dropout_hash.h"

#include "kernels/cuda/unroll.cuh"

namespace slm::cuda {
namespace {

// Tile sizes for rank R (the padded rank) and Rows rows per block (32 or 64). A block has 256
// threads; in the reduction tiles thread t owns rows t/8 + 32i (i < Rows/32) and rank columns
// t%8 + 8j (j < R/8); in the sweep over output columns it owns column t%32 of the 32-column chunk
// and rows t/32 + 8i (i < Rows/8).
template <int R, int Rows = 64>
struct LoraTraits {
  static constexpr int rank = R;
  static constexpr int threads = 256;
  // ptxas (CUDA 13) aimed at 64 registers without a minimum and spilled at R = 64; 2 blocks of
  // 256 threads allow 128 (66-121 used, no spills).
  static constexpr int min_blocks = 2;
  static constexpr int rows = Rows;  // rows of the reduction tile (tokens, or db/da columns)
  static constexpr int tm = Rows / 32;
  static constexpr int bk = 32;      // reduction depth per shared strip; also the sweep's chunk width
  static constexpr int tn = R / 8;
  static constexpr int act_stride = rows + 1;  // act[kk][row]: odd stride, transposing stores
  static constexpr int w_stride = R + 1;       // w[kk][j] and w[col][j]: odd stride
  static_assert(R % 8 == 0 && R >= 8 && R <= 128, "rank tile 8, 16, 32, 64 or 128");
  static_assert((rows == 32 || rows == 64) && threads == 32 * 8,
                "reduction tile: 32 x 8 threads, 1 or 2 rows each");
  static_assert(bk == 32 && rows % (threads / 32) == 0, "sweep: a warp per 32-column row group");
  // Static shared memory of the weight-gradient kernel; the row kernels add low[rows][R + 4]
  // (checked there, so rank 128 can name a 64-row type for the weight gradients while its row
  // kernels take 32 rows; nvcc warns about members a kernel never uses, hence not here).
  static constexpr int weight_grad_bytes = (act_stride * bk + w_stride * bk) * 4;
};

constexpr int k_max_rank = 128;

struct Dropout {
  const float* mask;     // [M, K] or nullptr
  LoraDropoutHash hash;  // when mask == nullptr
  std::int64_t k;        // K, the mask's width
};

// The mask value of element (t, c) of [M, K].
__device__ __forceinline__ float mask_at(const Dropout& d, std::int64_t t, std::int64_t c) {
  const std::int64_t i = t * d.k + c;
  if (d.mask != nullptr) return d.mask[i];
  if (d.hash.threshold == 0) return 1.0f;
  return dropout_drops(d.hash.base, static_cast<std::uint64_t>(i), d.hash.threshold) ? 0.0f : d.hash.keep;
}

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

// act[kk][row] = src[row0 + row, col0 + kk] (* mask), zero outside [rows_total, cols_total).
// src is [*, ld] row-major; a warp reads 32 consecutive columns of one row.
template <typename T, typename In, typename S>
__device__ __forceinline__ void load_rows_transposed(S act, const In* src, std::int64_t ld, std::int64_t row0,
                                                     std::int64_t rows_total, std::int64_t col0,
                                                     std::int64_t cols_total, bool masked, const Dropout& drop) {
  for (int e = static_cast<int>(threadIdx.x); e < T::rows * T::bk; e += T::threads) {
    const int row = e / T::bk, kk = e % T::bk;
    const std::int64_t t = row0 + row, c = col0 + kk;
    float v = 0.0f;
    if (t < rows_total && c < cols_total) {
      v = to_f32(src[t * ld + c]);
      if (masked) v *= mask_at(drop, t, c);
    }
    act[kk * T::act_stride + row] = v;
  }
}

// act[kk][col] = src[row0 + kk, col0 + col] (* mask), zero outside; a warp reads 32 consecutive
// columns of one row.
template <typename T, typename In, typename S>
__device__ __forceinline__ void load_rows_direct(S act, const In* src, std::int64_t ld, std::int64_t row0,
                                                 std::int64_t rows_total, std::int64_t col0, std::int64_t cols_total,
                                                 bool masked, const Dropout& drop) {
  for (int e = static_cast<int>(threadIdx.x); e < T::rows * T::bk; e += T::threads) {
    const int kk = e / T::rows, col = e % T::rows;
    const std::int64_t t = row0 + kk, c = col0 + col;
    float v = 0.0f;
    if (t < rows_total && c < cols_total) {
      v = to_f32(src[t * ld + c]);
      if (masked) v *= mask_at(drop, t, c);
    }
    act[kk * T::act_stride + col] = v;
  }
}

// w[kk][j] = W[c0 + kk, j] of a rank-minor W [C, r] (B, xa, g), zero for j >= r or c0+kk >= C.
template <typename T, typename S>
__device__ __forceinline__ void load_rank_minor(S w, const float* src, int r, std::int64_t c0, std::int64_t c_total) {
  for (int e = static_cast<int>(threadIdx.x); e < T::bk * T::rank; e += T::threads) {
    const int kk = e / T::rank, j = e % T::rank;
    const std::int64_t c = c0 + kk;
    w[kk * T::w_stride + j] = (j < r && c < c_total) ? src[c * r + j] : 0.0f;
  }
}

// w[kk][j] = W[j, c0 + kk] of a rank-major W [r, C] (A), zero outside.
template <typename T, typename S>
__device__ __forceinline__ void load_rank_major(S w, const float* src, int r, std::int64_t c0, std::int64_t c_total) {
  for (int e = static_cast<int>(threadIdx.x); e < T::bk * T::rank; e += T::threads) {
    const int j = e / T::bk, kk = e % T::bk;
    const std::int64_t c = c0 + kk;
    w[kk * T::w_stride + j] = (j < r && c < c_total) ? src[static_cast<std::int64_t>(j) * c_total + c] : 0.0f;
  }
}

// acc[i][j] += sum_kk act[kk][ty + 32i] * w[kk][tx + 8j].
template <typename T, typename S>
__device__ __forceinline__ void reduce_strip(float (&acc)[T::tm][T::tn], S act, S w) {
  const int ty = static_cast<int>(threadIdx.x) / 8, tx = static_cast<int>(threadIdx.x) % 8;
  SLM_UNROLL_N(4)
  for (int kk = 0; kk < T::bk; ++kk) {
    float a[T::tm];
    SLM_UNROLL
    for (int i = 0; i < T::tm; ++i) a[i] = act[kk * T::act_stride + ty + 32 * i];
    SLM_UNROLL
    for (int j = 0; j < T::tn; ++j) {
      const float b = w[kk * T::w_stride + tx + 8 * j];
      SLM_UNROLL
      for (int i = 0; i < T::tm; ++i) acc[i][j] += a[i] * b;
    }
  }
}

struct RowsParams {
  const void* in;   // [M, C1] of In: x (forward) or dy (backward)
  const float* w1;  // A [r, C1] (forward) or B [C1, r] (backward)
  float* low;       // [M, r] overwritten: xa (forward) or g (backward)
  float* out;       // [M, C2] +=: y (forward) or dx (backward, may be nullptr)
  const float* w2;  // B [C2, r] (forward) or A [r, C2] (backward)
  std::int64_t m, c1, c2;
  int r;
  float scale;
  Dropout drop;  // on the input of phase 1 (forward) or on the output of phase 2 (backward)
};

// Phase 1: low[rows] = in[rows] W1 reduced over C1; phase 2: out[rows] += scale * low W2^T (* mask).
template <typename T, bool Forward, typename In>
__global__ void __launch_bounds__(T::threads, T::min_blocks) lora_rows_kernel(RowsParams p) {
  constexpr int low_stride = T::rank + 4;  // low[row][j]: whole-warp broadcast reads
  static_assert(T::weight_grad_bytes + low_stride * T::rows * 4 <= 48 * 1024, "static shared memory");
  SLM_SHARED(float, act, T::act_stride * T::bk);
  SLM_SHARED(float, w, T::w_stride * T::bk);
  SLM_SHARED(float, low, low_stride * T::rows);
  const int tid = static_cast<int>(threadIdx.x);
  const std::int64_t row0 = static_cast<std::int64_t>(blockIdx.x) * T::rows;
  const bool masked = p.drop.mask != nullptr || p.drop.hash.threshold != 0;
  float acc[T::tm][T::tn] = {};
  for (std::int64_t c0 = 0; c0 < p.c1; c0 += T::bk) {
    load_rows_transposed<T>(act, static_cast<const In*>(p.in), p.c1, row0, p.m, c0, p.c1, Forward && masked, p.drop);
    if (Forward) {
      load_rank_major<T>(w, p.w1, p.r, c0, p.c1);
    } else {
      load_rank_minor<T>(w, p.w1, p.r, c0, p.c1);
    }
    __syncthreads();
    reduce_strip<T>(acc, act, w);
    __syncthreads();
  }
  {
    const int ty = tid / 8, tx = tid % 8;
    SLM_UNROLL
    for (int i = 0; i < T::tm; ++i) {
      SLM_UNROLL
      for (int j = 0; j < T::tn; ++j) {
        const int row = ty + 32 * i, col = tx + 8 * j;
        low[row * low_stride + col] = acc[i][j];
        if (row0 + row < p.m && col < p.r) p.low[(row0 + row) * p.r + col] = acc[i][j];
      }
    }
  }
  if (p.out == nullptr) return;  // uniform over the block
  __syncthreads();
  const int col = tid % 32, group = tid / 32;
  for (std::int64_t c0 = 0; c0 < p.c2; c0 += T::bk) {
    if (Forward) {
      load_rank_minor<T>(w, p.w2, p.r, c0, p.c2);
    } else {
      load_rank_major<T>(w, p.w2, p.r, c0, p.c2);
    }
    __syncthreads();
    float sum[T::rows / 8] = {};
    SLM_UNROLL_N(4)
    for (int j = 0; j < T::rank; ++j) {
      const float b = w[col * T::w_stride + j];
      SLM_UNROLL
      for (int i = 0; i < T::rows / 8; ++i) sum[i] += low[(group + 8 * i) * low_stride + j] * b;
    }
    const std::int64_t c = c0 + col;
    SLM_NO_UNROLL  // with dropout each row hashes: not worth 8 copies of that code
    for (int i = 0; i < T::rows / 8; ++i) {
      const std::int64_t t = row0 + group + 8 * i;
      if (t < p.m && c < p.c2) {
        float v = p.scale * sum[i];
        if (!Forward && masked) v *= mask_at(p.drop, t, c);
        p.out[t * p.c2 + c] += v;
      }
    }
    __syncthreads();
  }
}

struct WeightGradParams {
  float* db;          // [N, r] +=
  float* da;          // [r, K] +=
  const void* dy;     // [M, N] of In
  const void* x;      // [M, K] of In
  const float* xa;    // [M, r]
  const float* g;     // [M, r]
  std::int64_t m, n, k;
  int r;
  float scale;
  unsigned db_blocks;  // blocks [0, db_blocks) take db, the rest da
  Dropout drop;
  std::int64_t split_rows;  // rows of M per blockIdx.y (a multiple of bk)
  float* partial;           // nullptr, or [gridDim.y][N r + r K]: unscaled sums per split
};

// db[cols] += scale * dy[:, cols]^T xa or da[:, cols] += scale * g^T (x[:, cols] * mask), over
// 64 columns per block and the rows [y split_rows, (y + 1) split_rows) of M in order; with
// `partial`, the sums of each split are stored there instead and lora_reduce_splits_kernel adds
// them up.
template <typename T, typename In>
__global__ void __launch_bounds__(T::threads, T::min_blocks) lora_weight_grad_kernel(WeightGradParams p) {
  static_assert(T::weight_grad_bytes <= 48 * 1024, "static shared memory");
  SLM_SHARED(float, act, T::act_stride * T::bk);
  SLM_SHARED(float, w, T::w_stride * T::bk);
  const bool for_db = blockIdx.x < p.db_blocks;
  const std::int64_t col0 = static_cast<std::int64_t>(for_db ? blockIdx.x : blockIdx.x - p.db_blocks) * T::rows;
  const In* src = static_cast<const In*>(for_db ? p.dy : p.x);
  const float* low = for_db ? p.xa : p.g;
  const std::int64_t width = for_db ? p.n : p.k;
  const bool masked = !for_db && (p.drop.mask != nullptr || p.drop.hash.threshold != 0);
  const std::int64_t t_begin = static_cast<std::int64_t>(blockIdx.y) * p.split_rows;
  const std::int64_t t_end = t_begin + p.split_rows < p.m ? t_begin + p.split_rows : p.m;
  float acc[T::tm][T::tn] = {};
  for (std::int64_t t0 = t_begin; t0 < t_end; t0 += T::bk) {
    load_rows_direct<T>(act, src, width, t0, t_end, col0, width, masked, p.drop);
    load_rank_minor<T>(w, low, p.r, t0, t_end);
    __syncthreads();
    reduce_strip<T>(acc, act, w);
    __syncthreads();
  }
  const int ty = static_cast<int>(threadIdx.x) / 8, tx = static_cast<int>(threadIdx.x) % 8;
  SLM_UNROLL
  for (int i = 0; i < T::tm; ++i) {
    SLM_UNROLL
    for (int j = 0; j < T::tn; ++j) {
      const std::int64_t c = col0 + ty + 32 * i;
      const int rank_col = tx + 8 * j;
      if (c >= width || rank_col >= p.r) continue;
      if (p.partial != nullptr) {
        float* split = p.partial + static_cast<std::int64_t>(blockIdx.y) * (p.n + p.k) * p.r;
        split[for_db ? c * p.r + rank_col : p.n * p.r + rank_col * p.k + c] = acc[i][j];
      } else if (for_db) {
        p.db[c * p.r + rank_col] += p.scale * acc[i][j];
      } else {
        p.da[rank_col * p.k + c] += p.scale * acc[i][j];
      }
    }
  }
}

// db[e] (e < N r) or da[e - N r] += scale * sum over the splits of partial[s][e], in split order.
__global__ void __launch_bounds__(256) lora_reduce_splits_kernel(float* db, float* da, const float* partial,
                                                                  std::int64_t db_count, std::int64_t total, int splits,
                                                                  float scale) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    float sum = 0.0f;
    for (int s = 0; s < splits; ++s) sum += partial[s * total + e];
    if (e < db_count) {
      db[e] += scale * sum;
    } else {
      da[e - db_count] += scale * sum;
    }
  }
}

// Splits of M for the weight gradients (kernels/cuda/workspace_sizes.h, shared with the planner).
constexpr std::int64_t k_target_blocks = k_lora_target_blocks;
std::int64_t split_rows_for(std::int64_t m, std::int64_t n, std::int64_t k) { return lora_split_rows(m, n, k); }
std::int64_t split_count(std::int64_t m, std::int64_t n, std::int64_t k) { return lora_split_count(m, n, k); }

void check_shape(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t r, const char* what) {
  SLM_CHECK(m >= 0 && n >= 1 && k >= 1 && r >= 1 && r <= k_max_rank && m < (std::int64_t{1} << 40), "internal: ",
            what, " called with M ", m, ", N ", n, ", K ", k, ", r ", r,
            "; needs M >= 0, N, K >= 1 and 1 <= r <= 128 (a larger lora.rank runs on the CPU backend only)");
}

template <typename T, typename In>
void launch_rows_with(const RowsParams& p, bool forward, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((p.m + T::rows - 1) / T::rows));
  if (forward) {
    launch(lora_rows_kernel<T, true, In>, grid, dim3(T::threads), 0, stream, p);
  } else {
    launch(lora_rows_kernel<T, false, In>, grid, dim3(T::threads), 0, stream, p);
  }
}

// 64-row blocks once there are enough of them to fill a large GPU, 32-row blocks before; rank 128
// takes 32-row blocks always (64 would need more than 48 KiB of static shared memory).
template <typename T, typename In>
void launch_rows(const RowsParams& p, bool forward, LoraRowTile tile, cudaStream_t stream) {
  if (tile == LoraRowTile::automatic) {
    tile = (p.m + 63) / 64 < k_target_blocks ? LoraRowTile::rows32 : LoraRowTile::rows64;
  }
  if constexpr (T::rank > 64) {
    launch_rows_with<LoraTraits<T::rank, 32>, In>(p, forward, stream);
  } else if (tile == LoraRowTile::rows32) {
    launch_rows_with<LoraTraits<T::rank, 32>, In>(p, forward, stream);
  } else {
    launch_rows_with<LoraTraits<T::rank, 64>, In>(p, forward, stream);
  }
}

template <typename T, typename In>
void launch_weight_grad(const WeightGradParams& p, unsigned splits, cudaStream_t stream) {
  const unsigned da_blocks = static_cast<unsigned>((p.k + T::rows - 1) / T::rows);
  launch(lora_weight_grad_kernel<T, In>, dim3(p.db_blocks + da_blocks, splits), dim3(T::threads), 0, stream, p);
}

// Calls f(LoraTraits<R>{}, In{}) for the smallest rank tile R >= r and the input's element type.
template <typename F>
void with_tile_and_input(std::int64_t r, LoraInput input, F&& f) {
  auto with_input = [&](auto traits) {
    if (input == LoraInput::bf16) {
      f(traits, __nv_bfloat16{});
    } else {
      f(traits, float{});
    }
  };
  if (r <= 8) {
    with_input(LoraTraits<8>{});
  } else if (r <= 16) {
    with_input(LoraTraits<16>{});
  } else if (r <= 32) {
    with_input(LoraTraits<32>{});
  } else if (r <= 64) {
    with_input(LoraTraits<64>{});
  } else {
    with_input(LoraTraits<128>{});
  }
}

}  // namespace


LoraDropoutHash lora_dropout_hash(std::uint64_t base, double p) {
  SLM_CHECK(p >= 0 && p < 1, "internal: lora dropout probability ", p, " outside [0, 1)");
  LoraDropoutHash h;
  h.base = base;
  h.threshold = dropout_threshold(p);
  h.keep = static_cast<float>(1.0 / (1.0 - p));
  return h;
}

void lora_forward(const LoraForwardParams& p, cudaStream_t stream) {
  check_shape(p.m, p.n, p.k, p.r, "cuda::lora_forward");
  if (p.m == 0) return;
  const RowsParams rows{p.x, p.a, p.xa, p.y, p.b, p.m, p.k, p.n, static_cast<int>(p.r), p.scale, {p.mask, p.hash, p.k}};
  with_tile_and_input(p.r, p.input, [&](auto traits, auto in) {
    launch_rows<decltype(traits), decltype(in)>(rows, true, p.row_tile, stream);
  });
}

void lora_backward(const LoraBackwardParams& p, cudaStream_t stream) {
  check_shape(p.m, p.n, p.k, p.r, "cuda::lora_backward");
  if (p.m == 0) return;
  const Dropout drop{p.mask, p.hash, p.k};
  const RowsParams rows{p.dy, p.b, p.g, p.dx, p.a, p.m, p.n, p.k, static_cast<int>(p.r), p.scale, drop};
  with_tile_and_input(p.r, p.input, [&](auto traits, auto in) {
    using T = decltype(traits);
    using In = decltype(in);
    launch_rows<T, In>(rows, false, p.row_tile, stream);
    const std::int64_t splits = p.workspace != nullptr ? split_count(p.m, p.n, p.k) : 1;
    const WeightGradParams grads{p.db, p.da, p.dy, p.x, p.xa, p.g, p.m, p.n, p.k, static_cast<int>(p.r), p.scale,
                                 static_cast<unsigned>((p.n + T::rows - 1) / T::rows), drop,
                                 splits > 1 ? split_rows_for(p.m, p.n, p.k) : p.m,
                                 splits > 1 ? p.workspace : nullptr};
    launch_weight_grad<T, In>(grads, static_cast<unsigned>(splits), stream);
    if (splits > 1) {
      const std::int64_t total = (p.n + p.k) * p.r, blocks = (total + 255) / 256;
      launch(lora_reduce_splits_kernel, dim3(static_cast<unsigned>(blocks < 1024 ? blocks : 1024)), dim3(256), 0,
             stream, p.db, p.da, static_cast<const float*>(p.workspace), p.n * p.r, total, static_cast<int>(splits),
             p.scale);
    }
  });
}

}  // namespace slm::cuda
