// attention_backward.cu — fused causal attention backward (FlashAttention-2 manner) on tensor
// cores, in three deterministic kernels (no atomics; each output element has one writer):
//
//   delta_kernel  delta[t, h] = sum_e dout * out (fp32), one thread per (token, head).
//   dkdv_kernel   grid (ceil(max_doc_len / BK), n_docs, G * splits): BK keys of one kv head; each
//                 warp owns 16 keys and keeps their dK and dV (16 x E fp32 each) in registers
//                 while Q / dO tiles of BQ queries of every query head of the group stream
//                 through a cp.async ring. Per tile, with keys as rows:
//                   S^T = K Q^T, P^T = exp2(fma(S^T, scale log2 e, -lse log2 e)) (masked to 0),
//                   dV += P^T dO, dP^T = V dO^T, dS^T = P^T (dP^T - delta), dK += dS^T Q.
//   dq_kernel     grid (ceil(max_doc_len / BQ), n_docs, H * splits): BQ queries of one head, each
//                 warp 16 of them with dQ in registers, K / V tiles of BK keys through a cp.async
//                 ring:  S = Q K^T, P, dP = dO V^T, dS = P (dP - delta), dQ += dS K.
// For E = 256 (splits = 2) each block accumulates and writes half of the gradients' columns and
// recomputes S and dP over all of E: 256 fp32 accumulators per thread would not fit.
// dK and dQ are scaled by `scale` when written. P and dS enter the mma rounded to the input type,
// as in FlashAttention-2, or with exact_probabilities as three rounded pieces each (Parts = 3,
// about fp32 accuracy, 3x the work of those products; the tests' check on everything else).
// Letters as in attention.cu; i query and j key positions inside the block's document of length L.
// Does not hold: the public declaration (attention_backward.h); shared tile helpers
// (attention_tiles.cuh); PTX (ptx.cuh).
#include "kernels/cuda/attention_backward.h"

#include <cmath>
#include <cstdint>

#include "kernels/cuda/attention_tiles.cuh"  // ElemOps, load_rows, load_a, load_b_nk, load_b_kn, SLM_UNROLL
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/ptx.cuh"
#include "kernels/cuda/shared.cuh"

namespace slm::cuda {
namespace {

using namespace attention_tiles;  // NOLINT: the tile vocabulary of these kernels

constexpr float k_log2e = 1.4426950408889634f;

// Rows = 16 * warps rows per block (keys for dkdv, queries for dq); Cols per streamed tile.
template <int E_, int Rows_, int Cols_, int Stages_>
struct BackwardTraits {
  static constexpr int E = E_, Rows = Rows_, Cols = Cols_, Stages = Stages_;
  static constexpr int warps = Rows / 16;
  static constexpr int threads = 32 * warps;
  static constexpr int pad = 8;
  static constexpr int lds = E + pad;
  // Each block accumulates EOut columns of its gradients (E up to 128; for E = 256 two blocks
  // per row tile take half each, both recomputing S and dP over all of E).
  static constexpr int EOut = E <= 128 ? E : 128;
  static constexpr int splits = E / EOut;
  static constexpr int e_tiles = EOut / 8;  // n8 tiles of the accumulated gradients
  static constexpr int col_tiles = Cols / 8;
  // Two resident [Rows][lds] tiles, then two rings of [Stages][Cols][lds].
  static constexpr int ring_at = 2 * Rows * lds;
  static constexpr int shared_bytes = (2 * Rows * lds + 2 * Stages * Cols * lds) * 2;
  static_assert(Rows % 16 == 0 && Rows >= 16 && Rows <= 128, "a warp owns 16 rows; 1..8 warps");
  static_assert(Cols % 16 == 0, "streamed tiles are whole k16 steps");
  static_assert(E % 16 == 0 && E <= 256, "head_dim: whole k16 steps, at most 256");
  static_assert(Stages >= 2 && Stages <= 8, "cp.async.wait_group counts 0..7 pending stages");
  static_assert(shared_bytes <= 160 * 1024, "dynamic shared memory fits sm_80's 163 KiB");
};

template <int E>
using DkdvTraits = BackwardTraits<E, 64, 32, 2>;  // 64 keys per block, 32-query tiles
template <int E>
using DqTraits = BackwardTraits<E, 64, E <= 128 ? 64 : 32, 2>;  // 64 queries per block, 64- (32-) key tiles

// The document a block works in.
struct Doc {
  long long start;
  int len;
};
__device__ __forceinline__ Doc block_doc(const AttentionBackwardParams& p) {
  if (p.cu_seqlens == nullptr) return {0, p.t};
  return {p.cu_seqlens[blockIdx.y], p.cu_seqlens[blockIdx.y + 1] - p.cu_seqlens[blockIdx.y]};
}

__device__ __forceinline__ bool hidden(int i, int j, int len, int window) {
  return j > i || i >= len || j >= len || (window > 0 && i - j >= window);
}

template <class Elem>
__global__ void __launch_bounds__(128) delta_kernel(AttentionBackwardParams p) {
  const long long row = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= static_cast<long long>(p.t) * p.h) return;
  const Elem* dout = static_cast<const Elem*>(p.dout) + row * p.e;
  float sum = 0.0f;
  if (p.out_fp32 != nullptr) {
    const float* out = p.out_fp32 + row * p.e;
    for (int x = 0; x < p.e; ++x) sum += out[x] * static_cast<float>(dout[x]);
  } else {
    const Elem* out = static_cast<const Elem*>(p.out) + row * p.e;
    for (int x = 0; x < p.e; ++x) sum += static_cast<float>(out[x]) * static_cast<float>(dout[x]);
  }
  p.delta[row] = sum;
}

// acc (16 x EOut, columns e_base ..) += a (16 x 16) * the tile's rows kk * 16 .. + 15, columns
// e_base .. (a tile stored [k][e] at element at0: ldmatrix .trans).
template <class T, class Elem, class Tile>
__device__ __forceinline__ void mma_rows_by_tile(float (&acc)[T::e_tiles][4], const std::uint32_t (&a)[4], Tile smem,
                                                 int at0, int kk, int e_base) {
  SLM_UNROLL
  for (int ei = 0; ei < T::e_tiles; ei += 2) {
    std::uint32_t b0[2], b1[2];
    load_b_kn(b0, b1, smem, at0, T::lds, kk * 16, e_base + ei * 8);
    ElemOps<Elem>::mma(acc[ei], a, b0);
    ElemOps<Elem>::mma(acc[ei + 1], a, b1);
  }
}

// ---- dK, dV ------------------------------------------------------------------------------------

// Ring slot contents for tile n of a dkdv block: Q and dO rows of query head `head` from q0, and
// their lse (log2 units) and delta in `stats` ([Stages][2][Cols]; zeros past the document).
template <class T, class Elem, class Tile, class Stats>
__device__ __forceinline__ void load_query_tile(Tile smem, Stats stats, int slot, const AttentionBackwardParams& p,
                                                const Doc& doc, int head, int q0) {
  const long long stride = static_cast<long long>(p.h) * T::E;
  const long long offset = doc.start * stride + static_cast<long long>(head) * T::E;
  load_rows<T, T::Cols>(smem, T::ring_at + slot * T::Cols * T::lds, static_cast<const Elem*>(p.q) + offset, stride,
                        q0, doc.len);
  load_rows<T, T::Cols>(smem, T::ring_at + (T::Stages + slot) * T::Cols * T::lds,
                        static_cast<const Elem*>(p.dout) + offset, stride, q0, doc.len);
  for (int r = threadIdx.x; r < T::Cols; r += T::threads) {
    const int i = q0 + r;
    const long long at = (doc.start + i) * p.h + head;
    stats[(slot * 2) * T::Cols + r] = i < doc.len ? p.lse[at] * k_log2e : 0.0f;
    stats[(slot * 2 + 1) * T::Cols + r] = i < doc.len ? p.delta[at] : 0.0f;
  }
}

// One Q / dO tile against this warp's 16 keys (rows kw0 ..): dK and dV accumulate.
template <class T, class Elem, int Parts, class Tile, class Stats>
__device__ __forceinline__ void dkdv_tile(Tile smem, Stats stats, int slot, int kw0, int q0, int len, bool masked,
                                          int window, float scale_log2, int e_base, float (&dk)[T::e_tiles][4],
                                          float (&dv)[T::e_tiles][4]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int k_at = 0, v_at = T::Rows * T::lds;
  const int q_at = T::ring_at + slot * T::Cols * T::lds, do_at = T::ring_at + (T::Stages + slot) * T::Cols * T::lds;
  float st[T::col_tiles][4] = {}, dpt[T::col_tiles][4] = {};
  SLM_UNROLL
  for (int kk = 0; kk < T::E / 16; ++kk) {  // S^T = K Q^T and dP^T = V dO^T
    std::uint32_t ka[4], va[4];
    load_a(ka, smem, k_at, T::lds, warp * 16, kk * 16);
    load_a(va, smem, v_at, T::lds, warp * 16, kk * 16);
    SLM_UNROLL
    for (int ni = 0; ni < T::col_tiles; ni += 2) {
      std::uint32_t b0[2], b1[2];
      load_b_nk(b0, b1, smem, q_at, T::lds, ni * 8, kk * 16);
      ElemOps<Elem>::mma(st[ni], ka, b0);
      ElemOps<Elem>::mma(st[ni + 1], ka, b1);
      load_b_nk(b0, b1, smem, do_at, T::lds, ni * 8, kk * 16);
      ElemOps<Elem>::mma(dpt[ni], va, b0);
      ElemOps<Elem>::mma(dpt[ni + 1], va, b1);
    }
  }
  SLM_UNROLL
  for (int ni = 0; ni < T::col_tiles; ++ni)
    SLM_UNROLL
    for (int c = 0; c < 4; ++c) {  // rows are keys j, columns queries i
      const int r = ni * 8 + 2 * t + (c & 1), j = kw0 + g + (c >= 2 ? 8 : 0);
      float pv = exp2f(fmaf(st[ni][c], scale_log2, -stats[(slot * 2) * T::Cols + r]));
      if (masked && hidden(q0 + r, j, len, window)) pv = 0.0f;
      st[ni][c] = pv;
      dpt[ni][c] = pv * (dpt[ni][c] - stats[(slot * 2 + 1) * T::Cols + r]);
    }
  SLM_UNROLL
  for (int kk = 0; kk < T::Cols / 16; ++kk) {  // dV += P^T dO, dK += dS^T Q
    if constexpr (Parts == 1) {
      std::uint32_t pa[4], dsa[4];
      a_from_accumulators<Elem>(pa, st[2 * kk], st[2 * kk + 1]);
      a_from_accumulators<Elem>(dsa, dpt[2 * kk], dpt[2 * kk + 1]);
      mma_rows_by_tile<T, Elem>(dv, pa, smem, do_at, kk, e_base);
      mma_rows_by_tile<T, Elem>(dk, dsa, smem, q_at, kk, e_base);
    } else {
      SLM_NO_UNROLL  // unrolled, the pieces' loads are hoisted together and registers run out
      for (int part = 0; part < Parts; ++part) {
        std::uint32_t pa[4], dsa[4];
        a_piece_from_accumulators<Elem>(pa, st[2 * kk], st[2 * kk + 1]);
        a_piece_from_accumulators<Elem>(dsa, dpt[2 * kk], dpt[2 * kk + 1]);
        mma_rows_by_tile<T, Elem>(dv, pa, smem, do_at, kk, e_base);
        mma_rows_by_tile<T, Elem>(dk, dsa, smem, q_at, kk, e_base);
      }
    }
  }
}

template <class T, class Elem, int Parts>
__global__ void __launch_bounds__(T::threads) dkdv_kernel(AttentionBackwardParams p) {
  auto smem = dynamic_shared<Elem>();  // K [Rows][lds], V [Rows][lds], Q ring, dO ring [Stages][Cols][lds]
  SLM_SHARED(float, stats, T::Stages * 2 * T::Cols);  // [Stages][lse log2, delta][Cols]
  const Doc doc = block_doc(p);
  const int kv0 = blockIdx.x * T::Rows, kv_head = blockIdx.z / T::splits, group = p.h / p.g;
  const int e_base = (blockIdx.z % T::splits) * T::EOut;
  if (kv0 >= doc.len) return;  // the whole block, before any barrier
  const int q_end = p.window > 0 ? min(doc.len, kv0 + T::Rows - 1 + p.window) : doc.len;
  const int q_tiles = (q_end - kv0 + T::Cols - 1) / T::Cols, n_tiles = q_tiles * group;

  const long long kv_stride = static_cast<long long>(p.g) * T::E;
  const long long kv_offset = doc.start * kv_stride + static_cast<long long>(kv_head) * T::E;
  load_rows<T, T::Rows>(smem, 0, static_cast<const Elem*>(p.k) + kv_offset, kv_stride, kv0, doc.len);
  load_rows<T, T::Rows>(smem, T::Rows * T::lds, static_cast<const Elem*>(p.v) + kv_offset, kv_stride, kv0, doc.len);
  for (int s = 0; s < T::Stages - 1; ++s) {
    if (s < n_tiles) load_query_tile<T, Elem>(smem, stats, s, p, doc, kv_head * group + s / q_tiles, kv0 + (s % q_tiles) * T::Cols);
    ptx::cp_async_commit();
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int kw0 = kv0 + warp * 16, kw_last = kw0 + 15;
  const float scale_log2 = p.scale * k_log2e;
  float dk[T::e_tiles][4] = {}, dv[T::e_tiles][4] = {};
  for (int n = 0; n < n_tiles; ++n) {
    ptx::cp_async_wait<T::Stages - 2>();
    __syncthreads();
    const int next = n + T::Stages - 1;
    if (next < n_tiles)
      load_query_tile<T, Elem>(smem, stats, next % T::Stages, p, doc, kv_head * group + next / q_tiles,
                               kv0 + (next % q_tiles) * T::Cols);
    ptx::cp_async_commit();
    const int q0 = kv0 + (n % q_tiles) * T::Cols, q_last = q0 + T::Cols - 1;
    if (q_last < kw0 || (p.window > 0 && q0 - kw_last >= p.window)) continue;  // warp-uniform
    const bool masked = q0 < kw_last || q_last >= doc.len || (p.window > 0 && q_last - kw0 >= p.window);
    dkdv_tile<T, Elem, Parts>(smem, stats, n % T::Stages, kw0, q0, doc.len, masked, p.window, scale_log2, e_base, dk, dv);
  }
  ptx::cp_async_wait<0>();
  SLM_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int j = kw0 + g + 8 * r;
    if (j >= doc.len) continue;
    const long long at = ((doc.start + j) * p.g + kv_head) * T::E;
    SLM_UNROLL
    for (int ei = 0; ei < T::e_tiles; ++ei) {
      const int col = e_base + ei * 8 + 2 * t;
      p.dk[at + col] = dk[ei][2 * r] * p.scale;
      p.dk[at + col + 1] = dk[ei][2 * r + 1] * p.scale;
      p.dv[at + col] = dv[ei][2 * r];
      p.dv[at + col + 1] = dv[ei][2 * r + 1];
    }
  }
}

// ---- dQ ----------------------------------------------------------------------------------------

// One K / V tile against this warp's 16 queries (rows qw0 ..): dQ accumulates. lse2 and delta are
// this lane's rows g and g + 8.
template <class T, class Elem, int Parts, class Tile>
__device__ __forceinline__ void dq_tile(Tile smem, int slot, int qw0, int kv0, int len, bool masked, int window,
                                        float scale_log2, int e_base, const float (&lse2)[2], const float (&delta)[2],
                                        float (&dq)[T::e_tiles][4]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int q_at = 0, do_at = T::Rows * T::lds;
  const int k_at = T::ring_at + slot * T::Cols * T::lds, v_at = T::ring_at + (T::Stages + slot) * T::Cols * T::lds;
  float s[T::col_tiles][4] = {}, dp[T::col_tiles][4] = {};
  SLM_UNROLL
  for (int kk = 0; kk < T::E / 16; ++kk) {  // S = Q K^T and dP = dO V^T
    std::uint32_t qa[4], da[4];
    load_a(qa, smem, q_at, T::lds, warp * 16, kk * 16);
    load_a(da, smem, do_at, T::lds, warp * 16, kk * 16);
    SLM_UNROLL
    for (int ni = 0; ni < T::col_tiles; ni += 2) {
      std::uint32_t b0[2], b1[2];
      load_b_nk(b0, b1, smem, k_at, T::lds, ni * 8, kk * 16);
      ElemOps<Elem>::mma(s[ni], qa, b0);
      ElemOps<Elem>::mma(s[ni + 1], qa, b1);
      load_b_nk(b0, b1, smem, v_at, T::lds, ni * 8, kk * 16);
      ElemOps<Elem>::mma(dp[ni], da, b0);
      ElemOps<Elem>::mma(dp[ni + 1], da, b1);
    }
  }
  SLM_UNROLL
  for (int ni = 0; ni < T::col_tiles; ++ni)
    SLM_UNROLL
    for (int c = 0; c < 4; ++c) {  // rows are queries i, columns keys j
      const int i = qw0 + g + (c >= 2 ? 8 : 0), j = kv0 + ni * 8 + 2 * t + (c & 1);
      float pv = exp2f(fmaf(s[ni][c], scale_log2, -lse2[c >> 1]));
      if (masked && hidden(i, j, len, window)) pv = 0.0f;
      dp[ni][c] = pv * (dp[ni][c] - delta[c >> 1]);
    }
  SLM_UNROLL
  for (int kk = 0; kk < T::Cols / 16; ++kk) {  // dQ += dS K
    if constexpr (Parts == 1) {
      std::uint32_t dsa[4];
      a_from_accumulators<Elem>(dsa, dp[2 * kk], dp[2 * kk + 1]);
      mma_rows_by_tile<T, Elem>(dq, dsa, smem, k_at, kk, e_base);
    } else {
      SLM_NO_UNROLL
      for (int part = 0; part < Parts; ++part) {
        std::uint32_t dsa[4];
        a_piece_from_accumulators<Elem>(dsa, dp[2 * kk], dp[2 * kk + 1]);
        mma_rows_by_tile<T, Elem>(dq, dsa, smem, k_at, kk, e_base);
      }
    }
  }
}

template <class T, class Elem, class Tile>
__device__ __forceinline__ void load_kv_tile(Tile smem, int slot,
                                             const AttentionBackwardParams& p, const Doc& doc, int kv_head, int kv0) {
  const long long stride = static_cast<long long>(p.g) * T::E;
  const long long offset = doc.start * stride + static_cast<long long>(kv_head) * T::E;
  load_rows<T, T::Cols>(smem, T::ring_at + slot * T::Cols * T::lds, static_cast<const Elem*>(p.k) + offset, stride,
                        kv0, doc.len);
  load_rows<T, T::Cols>(smem, T::ring_at + (T::Stages + slot) * T::Cols * T::lds,
                        static_cast<const Elem*>(p.v) + offset, stride, kv0, doc.len);
}

template <class T, class Elem, int Parts>
__global__ void __launch_bounds__(T::threads) dq_kernel(AttentionBackwardParams p) {
  auto smem = dynamic_shared<Elem>();  // Q [Rows][lds], dO [Rows][lds], K ring, V ring [Stages][Cols][lds]
  const Doc doc = block_doc(p);
  // The last (longest-running, causal) query blocks start first.
  const int m0 = (gridDim.x - 1 - blockIdx.x) * T::Rows, head = blockIdx.z / T::splits, kv_head = head / (p.h / p.g);
  const int e_base = (blockIdx.z % T::splits) * T::EOut;
  if (m0 >= doc.len) return;
  const int q_last = min(m0 + T::Rows, doc.len) - 1;
  const int lo = p.window > 0 ? max(0, m0 - p.window + 1) : 0;
  const int first_tile = lo / T::Cols, n_tiles = q_last / T::Cols + 1 - first_tile;

  const long long q_stride = static_cast<long long>(p.h) * T::E;
  const long long q_offset = doc.start * q_stride + static_cast<long long>(head) * T::E;
  load_rows<T, T::Rows>(smem, 0, static_cast<const Elem*>(p.q) + q_offset, q_stride, m0, doc.len);
  load_rows<T, T::Rows>(smem, T::Rows * T::lds, static_cast<const Elem*>(p.dout) + q_offset, q_stride, m0, doc.len);
  for (int s = 0; s < T::Stages - 1; ++s) {
    if (s < n_tiles) load_kv_tile<T, Elem>(smem, s, p, doc, kv_head, (first_tile + s) * T::Cols);
    ptx::cp_async_commit();
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int qw0 = m0 + warp * 16, qw_last = qw0 + 15;
  float lse2[2], delta[2];
  SLM_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int i = qw0 + g + 8 * r;
    const long long at = (doc.start + i) * p.h + head;
    lse2[r] = i < doc.len ? p.lse[at] * k_log2e : 0.0f;
    delta[r] = i < doc.len ? p.delta[at] : 0.0f;
  }
  const float scale_log2 = p.scale * k_log2e;
  float dq[T::e_tiles][4] = {};
  for (int n = 0; n < n_tiles; ++n) {
    ptx::cp_async_wait<T::Stages - 2>();
    __syncthreads();
    const int next = n + T::Stages - 1;
    if (next < n_tiles) load_kv_tile<T, Elem>(smem, next % T::Stages, p, doc, kv_head, (first_tile + next) * T::Cols);
    ptx::cp_async_commit();
    const int kv0 = (first_tile + n) * T::Cols;
    if (kv0 > qw_last || (p.window > 0 && kv0 + T::Cols - 1 <= qw0 - p.window)) continue;  // warp-uniform
    const bool masked = kv0 + T::Cols - 1 > qw0 || kv0 + T::Cols > doc.len || (p.window > 0 && qw_last - kv0 >= p.window);
    dq_tile<T, Elem, Parts>(smem, n % T::Stages, qw0, kv0, doc.len, masked, p.window, scale_log2, e_base, lse2, delta, dq);
  }
  ptx::cp_async_wait<0>();
  SLM_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int i = qw0 + g + 8 * r;
    if (i >= doc.len) continue;
    const long long at = ((doc.start + i) * p.h + head) * T::E;
    SLM_UNROLL
    for (int ei = 0; ei < T::e_tiles; ++ei) {
      p.dq[at + e_base + ei * 8 + 2 * t] = dq[ei][2 * r] * p.scale;
      p.dq[at + e_base + ei * 8 + 2 * t + 1] = dq[ei][2 * r + 1] * p.scale;
    }
  }
}

// ---- launchers ---------------------------------------------------------------------------------

template <class T, class Kernel>
void launch_tiled(Kernel kernel, const AttentionBackwardParams& p, int heads, cudaStream_t stream) {
  if (T::shared_bytes > 48 * 1024)
    SLM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::shared_bytes));
  const dim3 grid((p.max_doc_len + T::Rows - 1) / T::Rows, p.cu_seqlens != nullptr ? p.n_docs : 1, heads);
  launch(kernel, grid, dim3(T::threads), T::shared_bytes, stream, p);
}

template <class Elem, int E, int Parts>
void backward_kernels(const AttentionBackwardParams& p, cudaStream_t stream) {
  const long long rows = static_cast<long long>(p.t) * p.h;
  launch(delta_kernel<Elem>, dim3(static_cast<unsigned>((rows + 127) / 128)), dim3(128), 0, stream, p);
  launch_tiled<DkdvTraits<E>>(dkdv_kernel<DkdvTraits<E>, Elem, Parts>, p, p.g * DkdvTraits<E>::splits, stream);
  launch_tiled<DqTraits<E>>(dq_kernel<DqTraits<E>, Elem, Parts>, p, p.h * DqTraits<E>::splits, stream);
}

template <class Elem, int E>
void backward_kernels(const AttentionBackwardParams& p, bool exact, cudaStream_t stream) {
  if constexpr (E <= 128) {
    exact ? backward_kernels<Elem, E, 3>(p, stream) : backward_kernels<Elem, E, 1>(p, stream);
  } else {  // the dQ kernel spills with three pieces at E = 256
    SLM_CHECK(!exact, "attention backward: exact_probabilities is offered for head dims 64 and 128, not ", E);
    backward_kernels<Elem, E, 1>(p, stream);
  }
}

template <class Elem>
void dispatch_head_dim(const AttentionBackwardParams& p, bool exact, cudaStream_t stream) {
  switch (p.e) {
    case 64: backward_kernels<Elem, 64>(p, exact, stream); break;
    case 128: backward_kernels<Elem, 128>(p, exact, stream); break;
    case 256: backward_kernels<Elem, 256>(p, exact, stream); break;
    default: SLM_CHECK(false, "attention backward: head_dim ", p.e, " is not supported by the CUDA kernels (64, 128 or 256)");
  }
}

bool aligned16(const void* x) { return reinterpret_cast<std::uintptr_t>(x) % 16 == 0; }

}  // namespace

void attention_backward(const AttentionBackwardParams& p, AttentionInput type, cudaStream_t stream,
                        bool exact_probabilities) {
  SLM_CHECK(p.g > 0 && p.h > 0 && p.h % p.g == 0, "attention backward: ", p.h,
            " query heads are not a multiple of ", p.g, " kv heads");
  SLM_CHECK(p.window >= 0, "attention backward: sliding window ", p.window, " is negative; use 0 for none");
  SLM_CHECK(p.t >= 0 && p.max_doc_len >= 0 && p.max_doc_len <= p.t && (p.cu_seqlens != nullptr || p.max_doc_len == p.t),
            "attention backward: max_doc_len ", p.max_doc_len, " must be the longest document (T = ", p.t,
            " without cu_seqlens)");
  SLM_CHECK(p.cu_seqlens == nullptr || p.n_docs >= 1, "attention backward: cu_seqlens with ", p.n_docs, " documents");
  SLM_CHECK(p.lse != nullptr && p.delta != nullptr && p.dq != nullptr && p.dk != nullptr && p.dv != nullptr,
            "attention backward: lse, delta, dq, dk and dv are required");
  SLM_CHECK(p.out != nullptr || p.out_fp32 != nullptr, "attention backward: out or out_fp32 is required (for delta)");
  SLM_CHECK(aligned16(p.q) && aligned16(p.k) && aligned16(p.v) && aligned16(p.out) && aligned16(p.dout),
            "attention backward: q, k, v, out and dout must be 16-byte aligned (the arenas' alignment)");
  if (p.t == 0 || p.max_doc_len == 0) return;
  switch (type) {
    case AttentionInput::bf16: dispatch_head_dim<__nv_bfloat16>(p, exact_probabilities, stream); break;
    case AttentionInput::f16: dispatch_head_dim<__half>(p, exact_probabilities, stream); break;
  }
}

}  // namespace slm::cuda
