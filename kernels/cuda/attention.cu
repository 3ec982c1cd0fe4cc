// attention.cu — fused causal attention forward (FlashAttention-2 manner) on tensor cores.
//
// Letters: T tokens, H query heads, G kv heads, E head_dim; BM queries per block (16 per warp),
// BN keys per K/V tile; L the length of the block's document, i query and j key positions
// inside it.
//
// Grid: (ceil(max_doc_len / BM), n_docs, H). A block takes BM queries of one document and one
// head; blocks past their document's end return at once. Each warp owns 16 query rows: it keeps
// their Q fragments in registers (loaded once by ldmatrix; for E = 256 re-read from shared memory
// at every tile instead), the 16 x E output accumulator and the running row max m and sum l in
// fp32. K/V tiles of BN keys stream through a ring of `Stages`
// shared buffers filled by cp.async (rows past the document's end zero-filled), so the copy of
// tile n + Stages - 1 overlaps the mma work of tile n. Per tile:
//   S = Q K^T           mma.sync m16n8k16, K fragments by ldmatrix (K is [key][e]: mma's col B)
//   mask; m' = max(m, rowmax S); P = exp2(fma(S, scale log2 e, -m' scale log2 e)); rescale O, l
//   O += P V            P's fp32 accumulators repacked as A fragments (rounded to the input
//                       type), V fragments by ldmatrix .trans (V is [key][e]: row-major B)
// Only tiles that straddle the diagonal, the window's edge or the document's end are masked.
// The row sum used to normalize O sums the rounded probabilities that entered P V (so the
// weights applied to V sum to one); the LSE comes from the fp32 sum, as the backward expects.
// With p.exact_probabilities, P enters P V as three rounded pieces (Parts = 3), which brings the
// fp32 output to the CPU twin's fp32 accuracy; it is the tests' check on everything but that
// one rounding.
// Does not hold: the public declaration (attention.h); PTX lives in ptx.cuh.
#include "kernels/cuda/attention.h"

#include <cmath>
#include <cstdint>

#include "kernels/cuda/attention_tiles.cuh"  // ElemOps, pack_rounded, load_rows, SLM_UNROLL
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/ptx.cuh"
#include "kernels/cuda/shared.cuh"

namespace slm::cuda {
namespace {

using attention_tiles::ElemOps;
using attention_tiles::load_rows;
using attention_tiles::pack_rounded;

template <int E_, int BM_, int BN_, int Stages_>
struct AttentionTraits {
  static constexpr int E = E_, BM = BM_, BN = BN_, Stages = Stages_;
  static constexpr int warps = BM / 16;
  static constexpr int threads = 32 * warps;
  static constexpr int pad = 8;          // elements after each shared row: aligned ldmatrix rows, spread banks
  static constexpr int lds = E + pad;    // shared row stride in elements
  static constexpr int e_tiles = E / 8;  // n8 tiles of the output
  static constexpr int kv_tiles = BN / 8;  // n8 tiles of S
  static constexpr int shared_elems = BM * lds + 2 * Stages * BN * lds;  // Q, then K ring, then V ring
  static constexpr int shared_bytes = shared_elems * 2;
  // Q's A fragments stay in registers (E / 4 of them) up to E = 128; beyond, the 16 x E fp32
  // output accumulator takes E / 2 registers and Q is read from shared memory at every tile.
  static constexpr bool q_in_registers = E <= 128;
  static constexpr int q_frags = q_in_registers ? E / 16 : 1;
  static_assert(BM % 16 == 0 && BM >= 16 && BM <= 128, "a warp owns 16 query rows; 1..8 warps");
  static_assert(BN % 16 == 0, "K/V tiles are whole k16 steps of P V");
  static_assert(E % 16 == 0 && E <= 256, "head_dim is whole k16 steps of Q K^T, at most 256");
  static_assert(Stages >= 2 && Stages <= 8, "cp.async.wait_group counts 0..7 pending stages");
  static_assert(shared_bytes <= 160 * 1024, "dynamic shared memory fits sm_80's 163 KiB");
};

using Traits64 = AttentionTraits<64, 64, 64, 2>;    // 45 KiB shared
using Traits128 = AttentionTraits<128, 64, 64, 2>;  // 85 KiB shared
using Traits256 = AttentionTraits<256, 64, 32, 2>;  // 99 KiB shared, Q read from shared memory

// What one block works on.
struct BlockTask {
  long long doc_start;  // first token of the document
  int len;              // L
  int m0;               // first query (inside the document)
  int head, kv_head;
};

// P = exp2(s * scale_log2 - base) for one tile's raw scores s (in place), l += its fp32 row sums, and O += P V with
// P rounded to Elem: as one part (Parts = 1, FlashAttention-2), or as the sum of Parts rounded
// pieces hi + mid + lo (Parts = 3: P to about fp32 accuracy, Parts times the P V tensor work;
// one piece at a time, V's fragments re-read, so the registers stay those of Parts = 1).
// l_used sums the rounded pieces that entered P V.
template <class T, class Elem, int Parts, class Tile>
__device__ __forceinline__ void accumulate_pv(Tile smem, int v_at, float (&s)[T::kv_tiles][4], float scale_log2,
                                              const float (&base)[2], float (&o)[T::e_tiles][4], float (&l)[2],
                                              float (&l_used)[2]) {
  const int lane = threadIdx.x & 31;
  SLM_UNROLL
  for (int ni = 0; ni < T::kv_tiles; ++ni)
    SLM_UNROLL
    for (int c = 0; c < 4; ++c) {
      s[ni][c] = exp2f(fmaf(s[ni][c], scale_log2, -base[c >> 1]));
      l[c >> 1] += s[ni][c];
    }
  SLM_UNROLL
  for (int kk = 0; kk < T::BN / 16; ++kk)
    SLM_NO_UNROLL  // unrolled, the pieces' V loads are hoisted together and E = 256 spills
    for (int part = 0; part < Parts; ++part) {  // s keeps what the pieces so far left out
      std::uint32_t a[4];
      SLM_UNROLL
      for (int half = 0; half < 2; ++half) {  // n8 tiles 2kk, 2kk + 1 are A's columns 0-7, 8-15
        float* sv = s[2 * kk + half];
        float x[4] = {sv[0], sv[1], sv[2], sv[3]};
        a[2 * half] = pack_rounded<Elem>(x[0], x[1]);      // row g
        a[2 * half + 1] = pack_rounded<Elem>(x[2], x[3]);  // row g + 8
        l_used[0] += x[0] + x[1];
        l_used[1] += x[2] + x[3];
        SLM_UNROLL
        for (int c = 0; c < 4; ++c) sv[c] -= x[c];
      }
      SLM_UNROLL
      for (int ei = 0; ei < T::e_tiles; ei += 2) {
        std::uint32_t r[4];  // (keys low, e tile ei), (keys high, ei), (keys low, ei + 1), (keys high, ei + 1)
        const int key = kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8, e = ei * 8 + (lane / 16) * 8;
        ptx::ldmatrix_x4_trans(r, &smem[v_at + key * T::lds + e]);
        const std::uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
        ElemOps<Elem>::mma(o[ei], a, b0);
        ElemOps<Elem>::mma(o[ei + 1], a, b1);
      }
    }
}

// One K/V tile: S = Q K^T for this warp's 16 rows, masked online softmax, O += P V.
template <class T, class Elem, int Parts, class Tile>
__device__ __forceinline__ void attend_tile(Tile smem, int stage, int kv0, const BlockTask& task, bool masked,
                                            int window, float scale_log2, const std::uint32_t (&qf)[T::q_frags][4],
                                            float (&o)[T::e_tiles][4], float (&m)[2], float (&l)[2],
                                            float (&l_used)[2]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int k_at = T::BM * T::lds + stage * T::BN * T::lds;
  const int v_at = T::BM * T::lds + (T::Stages + stage) * T::BN * T::lds;
  float s[T::kv_tiles][4] = {};
  SLM_UNROLL
  for (int kk = 0; kk < T::E / 16; ++kk) {
    std::uint32_t qa[4];
    if constexpr (T::q_in_registers) {
      SLM_UNROLL
      for (int c = 0; c < 4; ++c) qa[c] = qf[kk][c];
    } else {
      ptx::ldmatrix_x4(qa, &smem[(warp * 16 + (lane % 16)) * T::lds + kk * 16 + (lane / 16) * 8]);
    }
    SLM_UNROLL
    for (int ni = 0; ni < T::kv_tiles; ni += 2) {
      std::uint32_t r[4];  // (keys ni, e low), (ni, e high), (ni + 1, e low), (ni + 1, e high)
      const int n = ni * 8 + (lane % 8) + (lane / 16) * 8, e = kk * 16 + ((lane / 8) % 2) * 8;
      ptx::ldmatrix_x4(r, &smem[k_at + n * T::lds + e]);
      const std::uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
      ElemOps<Elem>::mma(s[ni], qa, b0);
      ElemOps<Elem>::mma(s[ni + 1], qa, b1);
    }
  }
  // c0, c1 sit at (row g, cols 2t, 2t + 1) of each 16x8 tile, c2, c3 at row g + 8.
  float row_max[2] = {-INFINITY, -INFINITY};
  SLM_UNROLL
  for (int ni = 0; ni < T::kv_tiles; ++ni)
    SLM_UNROLL
    for (int c = 0; c < 4; ++c) {
      float x = s[ni][c];  // raw scores: the max commutes with the (positive) scale
      if (masked) {
        const int i = task.m0 + warp * 16 + g + (c >= 2 ? 8 : 0), j = kv0 + ni * 8 + 2 * t + (c & 1);
        if (j > i || j >= task.len || (window > 0 && i - j >= window)) x = -INFINITY;
      }
      s[ni][c] = x;
      row_max[c >> 1] = fmaxf(row_max[c >> 1], x);
    }
  float base[2];
  SLM_UNROLL
  for (int r = 0; r < 2; ++r) {
    row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(0xffffffffu, row_max[r], 1));
    row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(0xffffffffu, row_max[r], 2));
    const float m_new = fmaxf(m[r], row_max[r]);
    // exp2(s * scale_log2 - base) by one fma: base's own rounding is shared by the whole row and
    // cancels in the normalization (and in the LSE, which adds it back).
    base[r] = m_new == -INFINITY ? 0.0f : m_new * scale_log2;  // a row that sees nothing yet keeps zeros
    const float alpha = m[r] == -INFINITY ? 0.0f : exp2f(fmaf(m[r], scale_log2, -base[r]));
    m[r] = m_new;
    l[r] *= alpha;
    l_used[r] *= alpha;
    SLM_UNROLL
    for (int ei = 0; ei < T::e_tiles; ++ei) {
      o[ei][2 * r] *= alpha;
      o[ei][2 * r + 1] *= alpha;
    }
  }
  accumulate_pv<T, Elem, Parts>(smem, v_at, s, scale_log2, base, o, l, l_used);
}

// Issues the copies of K/V tile number `tile` (keys kv0 .. kv0 + BN - 1) into ring slot `stage`.
template <class T, class Elem, class Tile>
__device__ __forceinline__ void load_kv(Tile smem, int stage, int kv0, const Elem* k, const Elem* v,
                                        const BlockTask& task, int g_heads) {
  const long long stride = static_cast<long long>(g_heads) * T::E;
  const long long offset = task.doc_start * stride + static_cast<long long>(task.kv_head) * T::E;
  load_rows<T, T::BN>(smem, T::BM * T::lds + stage * T::BN * T::lds, k + offset, stride, kv0, task.len);
  load_rows<T, T::BN>(smem, T::BM * T::lds + (T::Stages + stage) * T::BN * T::lds, v + offset, stride, kv0, task.len);
}

// Writes this warp's rows of out (O / l_used) and lse.
template <class T, class Elem>
__device__ __forceinline__ void store_rows(const AttentionParams& p, const BlockTask& task, float (&o)[T::e_tiles][4],
                                           float (&m)[2], float (&l)[2], float (&l_used)[2]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  SLM_UNROLL
  for (int r = 0; r < 2; ++r) {
    SLM_UNROLL
    for (int x = 1; x <= 2; x *= 2) {
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], x);
      l_used[r] += __shfl_xor_sync(0xffffffffu, l_used[r], x);
    }
    const int i = task.m0 + warp * 16 + g + 8 * r;
    if (i >= task.len) continue;
    const long long row = task.doc_start + i;
    const float inv = l_used[r] > 0.0f ? 1.0f / l_used[r] : 0.0f;
    const long long at = (row * p.h + task.head) * T::E;
    SLM_UNROLL
    for (int ei = 0; ei < T::e_tiles; ++ei) {
      const int col = ei * 8 + 2 * t;
      const float x0 = o[ei][2 * r] * inv, x1 = o[ei][2 * r + 1] * inv;
      if (p.out != nullptr) {
        p.out[at + col] = x0;
        p.out[at + col + 1] = x1;
      }
      if (p.out_half != nullptr) {
        Elem* out = static_cast<Elem*>(p.out_half);
        out[at + col] = ElemOps<Elem>::from_float(x0);
        out[at + col + 1] = ElemOps<Elem>::from_float(x1);
      }
    }
    const float base = m[r] * (p.scale * 1.4426950408889634f);  // bit for bit the base P was taken against
    if (t == 0) p.lse[row * p.h + task.head] = (base + log2f(l[r])) * 0.69314718055994531f;
  }
}

template <class T, class Elem, int Parts>
__global__ void __launch_bounds__(T::threads) attention_forward_kernel(AttentionParams p) {
  auto smem = dynamic_shared<Elem>();  // Q [BM][lds], K [Stages][BN][lds], V [Stages][BN][lds]
  BlockTask task;
  const int doc = blockIdx.y;
  task.doc_start = p.cu_seqlens != nullptr ? p.cu_seqlens[doc] : 0;
  task.len = p.cu_seqlens != nullptr ? p.cu_seqlens[doc + 1] - p.cu_seqlens[doc] : p.t;
  task.m0 = (gridDim.x - 1 - blockIdx.x) * T::BM;  // the last (longest-running, causal) query blocks start first
  task.head = blockIdx.z;
  task.kv_head = task.head / (p.h / p.g);
  if (task.m0 >= task.len) return;  // the whole block: no barrier has been reached

  // Keys [lo, hi) are visible to some query of the block; tiles start at multiples of BN.
  const int q_last = min(task.m0 + T::BM, task.len) - 1;
  const int lo = p.window > 0 ? max(0, task.m0 - p.window + 1) : 0;
  const int first_tile = lo / T::BN, end_tile = q_last / T::BN + 1;
  const int n_tiles = end_tile - first_tile;
  const Elem* q = static_cast<const Elem*>(p.q);
  const Elem* k = static_cast<const Elem*>(p.k);
  const Elem* v = static_cast<const Elem*>(p.v);

  const long long q_stride = static_cast<long long>(p.h) * T::E;
  load_rows<T, T::BM>(smem, 0, q + task.doc_start * q_stride + static_cast<long long>(task.head) * T::E, q_stride,
                      task.m0, task.len);
  for (int s = 0; s < T::Stages - 1; ++s) {
    if (s < n_tiles) load_kv<T>(smem, s, (first_tile + s) * T::BN, k, v, task, p.g);
    ptx::cp_async_commit();  // group s (Q rides in group 0)
  }

  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const float scale_log2 = p.scale * 1.4426950408889634f;
  std::uint32_t qf[T::q_frags][4];
  float o[T::e_tiles][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, l_used[2] = {0.0f, 0.0f};
  const int warp_first = task.m0 + warp * 16, warp_last = warp_first + 15;
  for (int n = 0; n < n_tiles; ++n) {
    ptx::cp_async_wait<T::Stages - 2>();  // this thread's copies of tile n (and Q) are done
    __syncthreads();                      // everyone's are, and tile n - 1's slot is free
    const int next = n + T::Stages - 1;
    if (next < n_tiles) load_kv<T>(smem, next % T::Stages, (first_tile + next) * T::BN, k, v, task, p.g);
    ptx::cp_async_commit();
    if (T::q_in_registers && n == 0) {
      SLM_UNROLL
      for (int kk = 0; kk < T::q_frags; ++kk)
        ptx::ldmatrix_x4(qf[kk], &smem[(warp * 16 + (lane % 16)) * T::lds + kk * 16 + (lane / 16) * 8]);
    }
    const int kv0 = (first_tile + n) * T::BN;
    // Warp-uniform: skip tiles this warp's rows cannot see (past the diagonal, before the window);
    // mask only tiles some element of which is hidden.
    if (kv0 > warp_last || (p.window > 0 && kv0 + T::BN - 1 <= warp_first - p.window)) continue;
    const bool masked = kv0 + T::BN - 1 > warp_first || kv0 + T::BN > task.len ||
                        (p.window > 0 && warp_last - kv0 >= p.window);
    attend_tile<T, Elem, Parts>(smem, n % T::Stages, kv0, task, masked, p.window, scale_log2, qf, o, m, l, l_used);
  }
  ptx::cp_async_wait<0>();
  store_rows<T, Elem>(p, task, o, m, l, l_used);
}

template <class T, class Elem>
void launch_attention(const AttentionParams& p, cudaStream_t stream) {
  auto kernel = p.exact_probabilities ? attention_forward_kernel<T, Elem, 3> : attention_forward_kernel<T, Elem, 1>;
  if (T::shared_bytes > 48 * 1024)
    SLM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, T::shared_bytes));
  const int n_docs = p.cu_seqlens != nullptr ? p.n_docs : 1;
  const dim3 grid((p.max_doc_len + T::BM - 1) / T::BM, n_docs, p.h);
  launch(kernel, grid, dim3(T::threads), T::shared_bytes, stream, p);
}

template <class Elem>
void dispatch_head_dim(const AttentionParams& p, cudaStream_t stream) {
  switch (p.e) {
    case 64: launch_attention<Traits64, Elem>(p, stream); break;
    case 128: launch_attention<Traits128, Elem>(p, stream); break;
    case 256: launch_attention<Traits256, Elem>(p, stream); break;
    default: SLM_CHECK(false, "attention: head_dim ", p.e, " is not supported by the CUDA kernel (64, 128 or 256)");
  }
}

bool aligned16(const void* x) { return reinterpret_cast<std::uintptr_t>(x) % 16 == 0; }

}  // namespace

void attention_forward_train(const AttentionParams& p, AttentionInput type, cudaStream_t stream) {
  SLM_CHECK(p.g > 0 && p.h > 0 && p.h % p.g == 0, "attention: ", p.h, " query heads are not a multiple of ", p.g,
            " kv heads");
  SLM_CHECK(p.window >= 0, "attention: sliding window ", p.window, " is negative; use 0 for none");
  SLM_CHECK(p.t >= 0 && p.max_doc_len >= 0 && p.max_doc_len <= p.t && (p.cu_seqlens != nullptr || p.max_doc_len == p.t),
            "attention: max_doc_len ", p.max_doc_len, " must be the longest document (T = ", p.t,
            " without cu_seqlens)");
  SLM_CHECK(p.cu_seqlens == nullptr || p.n_docs >= 1, "attention: cu_seqlens with ", p.n_docs, " documents");
  SLM_CHECK(p.lse != nullptr && (p.out != nullptr || p.out_half != nullptr),
            "attention: lse and at least one of out, out_half are required");
  SLM_CHECK(aligned16(p.q) && aligned16(p.k) && aligned16(p.v) && aligned16(p.out) && aligned16(p.out_half),
            "attention: q, k, v, out and out_half must be 16-byte aligned (the arenas' alignment)");
  if (p.t == 0 || p.max_doc_len == 0) return;
  switch (type) {
    case AttentionInput::bf16: dispatch_head_dim<__nv_bfloat16>(p, stream); break;
    case AttentionInput::f16: dispatch_head_dim<__half>(p, stream); break;
  }
}

}  // namespace slm::cuda
