// gemm_mma.cu — out = a * b^T (nt) or a * b (nn) with bf16 inputs and fp32 accumulation on
// tensor cores.
//
// Letters: M rows of a and out, N columns of out, K the shared inner dimension.
// A block computes a BM x BN tile of out; its warps form a (BM/WM) x (BN/WN) grid, each warp a
// WM x WN tile made of 16x8 mma.sync tiles. K advances in BK steps through a ring of `Stages`
// shared-memory buffers filled by cp.async (zero-filled past the matrix edges), so loads of
// step kt + Stages - 1 overlap the mma work of step kt. Shared rows are padded by 8 elements
// (16 bytes: ldmatrix rows stay aligned, and rows fall on different banks). The b tile keeps
// b's own layout, [BN][BK] for nt and [BK][BN] for nn; ldmatrix (nt) or ldmatrix .trans (nn)
// turns either into mma's B fragments.
// Does not hold: the public declaration (gemm_mma.h); PTX lives in ptx.cuh.
#include "kernels/cuda/gemm_mma.h"

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/ptx.cuh"
#include "kernels/cuda/shared.cuh"

namespace slm::cuda {
namespace {

template <int BM_, int BN_, int BK_, int WM_, int WN_, int Stages_>
struct GemmTraits {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WM = WM_, WN = WN_, Stages = Stages_;
  static constexpr int warps_m = BM / WM, warps_n = BN / WN;
  static constexpr int threads = 32 * warps_m * warps_n;
  static constexpr int mma_m = WM / 16, mma_n = WN / 8;  // mma tiles per warp
  static constexpr int pad = 8;                          // elements at the end of each shared row
  static_assert(BM % WM == 0 && BN % WN == 0, "warp tiles must divide the block tile");
  static_assert(WM % 16 == 0 && WN % 16 == 0, "a warp tile is made of 16x16 pieces (ldmatrix x4 for B)");
  static_assert(BK % 16 == 0, "K steps are whole mma k16 steps");
  static_assert(Stages >= 2 && Stages <= 8, "cp.async.wait_group counts 0..7 pending stages");
  static_assert(Stages * (BM * (BK + pad) + std::max(BN * (BK + pad), BK * (BN + pad))) * 2 <= 48 * 1024,
                "static shared memory is at most 48 KiB");
};

using LargeTile = GemmTraits<64, 64, 32, 32, 32, 3>;
using SmallTile = GemmTraits<32, 32, 16, 16, 16, 2>;

// Fills rows [row0, row0 + Rows) x columns [col0, col0 + Cols) of a row-major bf16 matrix with
// `rows` rows and `cols` columns into one stage of a shared tile [Rows][Cols + pad]; zeros
// outside the matrix.
template <class T, int Rows, int Cols, class Tile>
__device__ __forceinline__ void load_stage(Tile tile, int stage, const __nv_bfloat16* src, int rows, int cols,
                                           int ld, int row0, int col0, bool vector_loads) {
  constexpr int chunks_per_row = Cols / 8;  // 16-byte chunks
  constexpr int lds = Cols + T::pad;
  for (int c = threadIdx.x; c < Rows * chunks_per_row; c += T::threads) {
    const int r = c / chunks_per_row, col = (c % chunks_per_row) * 8;
    const int gr = row0 + r, gc = col0 + col;
    const int at = (stage * Rows + r) * lds + col;
    int valid = gr < rows ? cols - gc : 0;
    valid = valid < 0 ? 0 : (valid > 8 ? 8 : valid);
    if (vector_loads) {
      const __nv_bfloat16* from = valid > 0 ? src + static_cast<long long>(gr) * ld + gc : src;
      ptx::cp_async<16>(&tile[at], from, 2 * valid);
    } else {
      for (int e = 0; e < 8; ++e)
        tile[at + e] = e < valid ? src[static_cast<long long>(gr) * ld + gc + e] : __float2bfloat16(0.0f);
    }
  }
}

// The B fragments of two n8 tiles (n = n0 .. n0 + 15) for k = kk .. kk + 15, by one ldmatrix x4:
// matrices (n-tile 0, k low), (n-tile 0, k high), (n-tile 1, k low), (n-tile 1, k high).
template <class T, bool BKN, class Tile>
__device__ __forceinline__ void load_b_pair(Tile b_tile, int stage, int n0, int kk, std::uint32_t (&b0)[2],
                                            std::uint32_t (&b1)[2]) {
  const int lane = threadIdx.x & 31;
  std::uint32_t r[4];
  if constexpr (BKN) {  // [BK][BN + pad]: lane rows are k, .trans hands out columns
    const int k = kk + (lane % 8) + ((lane / 8) % 2) * 8, n = n0 + (lane / 16) * 8;
    ptx::ldmatrix_x4_trans(r, &b_tile[(stage * T::BK + k) * (T::BN + T::pad) + n]);
  } else {  // [BN][BK + pad]: lane rows are n
    const int n = n0 + (lane % 8) + (lane / 16) * 8, k = kk + ((lane / 8) % 2) * 8;
    ptx::ldmatrix_x4(r, &b_tile[(stage * T::BN + n) * (T::BK + T::pad) + k]);
  }
  b0[0] = r[0];
  b0[1] = r[1];
  b1[0] = r[2];
  b1[1] = r[3];
}

// One stage's BK columns of mma work for this warp.
template <class T, bool BKN, class Tile>
__device__ __forceinline__ void compute_stage(Tile a_tile, Tile b_tile, int stage, int warp_m, int warp_n,
                                              float (&acc)[T::mma_m][T::mma_n][4]) {
  const int lane = threadIdx.x & 31;
  for (int kk = 0; kk < T::BK; kk += 16) {
    std::uint32_t af[T::mma_m][4];
    std::uint32_t bf[T::mma_n][2];
    for (int mi = 0; mi < T::mma_m; ++mi) {
      const int row = warp_m * T::WM + mi * 16 + (lane % 16);
      ptx::ldmatrix_x4(af[mi], &a_tile[(stage * T::BM + row) * (T::BK + T::pad) + kk + (lane / 16) * 8]);
    }
    for (int ni = 0; ni < T::mma_n; ni += 2) load_b_pair<T, BKN>(b_tile, stage, warp_n * T::WN + ni * 8, kk, bf[ni], bf[ni + 1]);
    for (int mi = 0; mi < T::mma_m; ++mi)
      for (int ni = 0; ni < T::mma_n; ++ni) ptx::mma_m16n8k16_bf16(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
  }
}

// Issues the copies of K step kt into buffer `stage`.
template <class T, bool BKN, class Tile>
__device__ __forceinline__ void load_step(Tile a_tile, Tile b_tile, int stage, int kt, const GemmParams& p, int m0,
                                          int n0, bool vector_loads) {
  load_stage<T, T::BM, T::BK>(a_tile, stage, p.a, p.m, p.k, p.lda, m0, kt * T::BK, vector_loads);
  if constexpr (BKN)
    load_stage<T, T::BK, T::BN>(b_tile, stage, p.b, p.k, p.n, p.ldb, kt * T::BK, n0, vector_loads);
  else
    load_stage<T, T::BN, T::BK>(b_tile, stage, p.b, p.n, p.k, p.ldb, n0, kt * T::BK, vector_loads);
}

template <class T, bool BKN>
__global__ void __launch_bounds__(T::threads) gemm_bf16_kernel(GemmParams p, bool vector_loads) {
  SLM_SHARED(__nv_bfloat16, a_tile, T::Stages * T::BM * (T::BK + T::pad));  // [Stages][BM][BK + pad]
  SLM_SHARED(__nv_bfloat16, b_tile, T::Stages * (BKN ? T::BK * (T::BN + T::pad) : T::BN * (T::BK + T::pad)));
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int warp_m = warp / T::warps_n, warp_n = warp % T::warps_n;
  const int m0 = blockIdx.y * T::BM, n0 = blockIdx.x * T::BN;
  const int ktiles = (p.k + T::BK - 1) / T::BK;
  float acc[T::mma_m][T::mma_n][4] = {};

  for (int s = 0; s < T::Stages - 1; ++s) {
    if (s < ktiles) load_step<T, BKN>(a_tile, b_tile, s, s, p, m0, n0, vector_loads);
    ptx::cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    ptx::cp_async_wait<T::Stages - 2>();  // this thread's copies of step kt are done
    __syncthreads();                      // everyone's are, and step kt - 1's buffer is free
    const int next = kt + T::Stages - 1;
    if (next < ktiles) load_step<T, BKN>(a_tile, b_tile, next % T::Stages, next, p, m0, n0, vector_loads);
    ptx::cp_async_commit();
    compute_stage<T, BKN>(a_tile, b_tile, kt % T::Stages, warp_m, warp_n, acc);
  }
  ptx::cp_async_wait<0>();

  // c0, c1 sit at (row g, cols 2t, 2t+1) of each 16x8 tile, c2, c3 at row g + 8.
  const int g = lane >> 2, t = lane & 3;
  for (int mi = 0; mi < T::mma_m; ++mi)
    for (int ni = 0; ni < T::mma_n; ++ni)
      for (int i = 0; i < 4; ++i) {
        const int row = m0 + warp_m * T::WM + mi * 16 + g + (i >= 2 ? 8 : 0);
        const int col = n0 + warp_n * T::WN + ni * 8 + 2 * t + (i & 1);
        if (row < p.m && col < p.n) p.out[static_cast<long long>(row) * p.ldo + col] = acc[mi][ni][i];
      }
}

template <class T, bool BKN>
void launch_gemm(const GemmParams& p, bool vector_loads, cudaStream_t stream) {
  const dim3 grid((p.n + T::BN - 1) / T::BN, (p.m + T::BM - 1) / T::BM);
  launch(gemm_bf16_kernel<T, BKN>, grid, dim3(T::threads), 0, stream, p, vector_loads);
}

template <bool BKN>
void gemm_bf16(const GemmParams& p, GemmTile tile, cudaStream_t stream) {
  const int b_cols = BKN ? p.n : p.k;
  SLM_CHECK(p.m >= 0 && p.n >= 0 && p.k >= 0 && p.lda >= p.k && p.ldb >= b_cols && p.ldo >= p.n,
            "internal: gemm_bf16_", BKN ? "nn" : "nt", " with M=", p.m, " N=", p.n, " K=", p.k, " lda=", p.lda,
            " ldb=", p.ldb, " ldo=", p.ldo, " (leading dimensions must cover the rows)");
  if (p.m == 0 || p.n == 0) return;
  const bool vector_loads = p.lda % 8 == 0 && p.ldb % 8 == 0 && reinterpret_cast<std::uintptr_t>(p.a) % 16 == 0 &&
                            reinterpret_cast<std::uintptr_t>(p.b) % 16 == 0;
  switch (tile) {
    case GemmTile::large: launch_gemm<LargeTile, BKN>(p, vector_loads, stream); break;
    case GemmTile::small: launch_gemm<SmallTile, BKN>(p, vector_loads, stream); break;
  }
}

}  // namespace

void gemm_bf16_nt(const GemmParams& p, GemmTile tile, cudaStream_t stream) { gemm_bf16<false>(p, tile, stream); }
void gemm_bf16_nn(const GemmParams& p, GemmTile tile, cudaStream_t stream) { gemm_bf16<true>(p, tile, stream); }

}  // namespace slm::cuda
