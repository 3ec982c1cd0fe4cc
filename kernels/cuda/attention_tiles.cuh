// attention_tiles.cuh — the small tile vocabulary the attention kernels share (attention.cu,
// attention_backward.cu): the 16-bit input type's mma and rounding, cp.async row loads into
// padded shared tiles, and mma fragments read by ldmatrix from those tiles.
//
// Fragment facts (PTX ISA, see /work/shared/PTX-NOTES.md): a 16x8 fp32 accumulator c holds, per
// lane (g = lane / 4, t = lane % 4), c0 c1 at (row g, cols 2t, 2t + 1) and c2 c3 at row g + 8; two
// such tiles side by side (cols 0-7, 8-15) are, rounded to 16 bits, exactly one A fragment.
// Does not hold: kernels, launchers, Params (attention.h, attention_backward.h).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "kernels/cuda/ptx.cuh"

#include "kernels/cuda/unroll.cuh"

namespace slm::cuda::attention_tiles {

// The 16-bit input type: rounding from fp32 and the mma.
template <class Elem>
struct ElemOps;
template <>
struct ElemOps<__nv_bfloat16> {
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16(x); }
  static __device__ __forceinline__ void mma(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
    ptx::mma_m16n8k16_bf16(d, a, b, d);
  }
};
template <>
struct ElemOps<__half> {
  static __device__ __forceinline__ __half from_float(float x) { return __float2half(x); }
  static __device__ __forceinline__ void mma(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
    ptx::mma_m16n8k16_f16(d, a, b, d);
  }
};

// Rounds lo, hi to Elem and packs them (lo in bits 15:0); lo and hi become the rounded values.
template <class Elem>
__device__ __forceinline__ std::uint32_t pack_rounded(float& lo, float& hi) {
  const Elem a = ElemOps<Elem>::from_float(lo), b = ElemOps<Elem>::from_float(hi);
  std::uint16_t ab, bb;
  std::memcpy(&ab, &a, 2);
  std::memcpy(&bb, &b, 2);
  lo = static_cast<float>(a);
  hi = static_cast<float>(b);
  return static_cast<std::uint32_t>(ab) | (static_cast<std::uint32_t>(bb) << 16);
}

// The A fragment (16 x 16) made of two accumulator tiles, c_lo columns 0-7 and c_hi columns 8-15,
// rounded to Elem.
template <class Elem>
__device__ __forceinline__ void a_from_accumulators(std::uint32_t (&a)[4], const float (&c_lo)[4],
                                                    const float (&c_hi)[4]) {
  float x[8] = {c_lo[0], c_lo[1], c_lo[2], c_lo[3], c_hi[0], c_hi[1], c_hi[2], c_hi[3]};
  a[0] = pack_rounded<Elem>(x[0], x[1]);  // row g, cols 2t..
  a[1] = pack_rounded<Elem>(x[2], x[3]);  // row g + 8
  a[2] = pack_rounded<Elem>(x[4], x[5]);  // row g, cols 8 + 2t..
  a[3] = pack_rounded<Elem>(x[6], x[7]);  // row g + 8
}

// The same, and c_lo and c_hi keep what the rounding left out, so calling it again yields the
// next, smaller piece (P = hi + mid + lo).
template <class Elem>
__device__ __forceinline__ void a_piece_from_accumulators(std::uint32_t (&a)[4], float (&c_lo)[4], float (&c_hi)[4]) {
  float x[8] = {c_lo[0], c_lo[1], c_lo[2], c_lo[3], c_hi[0], c_hi[1], c_hi[2], c_hi[3]};
  a[0] = pack_rounded<Elem>(x[0], x[1]);
  a[1] = pack_rounded<Elem>(x[2], x[3]);
  a[2] = pack_rounded<Elem>(x[4], x[5]);
  a[3] = pack_rounded<Elem>(x[6], x[7]);
  SLM_UNROLL
  for (int c = 0; c < 4; ++c) {
    c_lo[c] -= x[c];
    c_hi[c] -= x[4 + c];
  }
}

// Copies `Rows` rows of T::E elements into a shared tile [Rows][T::lds] at element at0: row r
// comes from src + (first + r) * stride when first + r < valid_rows, else zeros. 16-byte cp.async
// by all T::threads threads; the caller commits and waits.
template <class T, int Rows, class Elem, class Tile>
__device__ __forceinline__ void load_rows(Tile tile, int at0, const Elem* src, long long stride, int first,
                                          int valid_rows) {
  constexpr int chunks = T::E / 8;  // 16-byte chunks per row
  for (int c = threadIdx.x; c < Rows * chunks; c += T::threads) {
    const int r = c / chunks, col = (c % chunks) * 8;
    const bool valid = first + r < valid_rows;
    const Elem* from = valid ? src + (first + r) * stride + col : src;
    ptx::cp_async<16>(&tile[at0 + r * T::lds + col], from, valid ? 16 : 0);
  }
}

// A fragment of rows m0 .. m0 + 15, cols k0 .. k0 + 15 of a tile stored [m][k] (row stride lds).
template <class Tile>
__device__ __forceinline__ void load_a(std::uint32_t (&a)[4], Tile tile, int at0, int lds, int m0, int k0) {
  const int lane = threadIdx.x & 31;
  ptx::ldmatrix_x4(a, &tile[at0 + (m0 + (lane % 16)) * lds + k0 + (lane / 16) * 8]);
}

// B fragments of n-tiles n0 .. n0 + 7 (b0) and n0 + 8 .. n0 + 15 (b1) for k0 .. k0 + 15, from a
// tile stored [n][k] (K for Q K^T: mma's "col" B, plain ldmatrix).
template <class Tile>
__device__ __forceinline__ void load_b_nk(std::uint32_t (&b0)[2], std::uint32_t (&b1)[2], Tile tile, int at0, int lds,
                                          int n0, int k0) {
  const int lane = threadIdx.x & 31;
  std::uint32_t r[4];  // (n low, k low), (n low, k high), (n high, k low), (n high, k high)
  ptx::ldmatrix_x4(r, &tile[at0 + (n0 + (lane % 8) + (lane / 16) * 8) * lds + k0 + ((lane / 8) % 2) * 8]);
  b0[0] = r[0];
  b0[1] = r[1];
  b1[0] = r[2];
  b1[1] = r[3];
}

// The same from a tile stored [k][n] (V for P V: row-major B, ldmatrix .trans).
template <class Tile>
__device__ __forceinline__ void load_b_kn(std::uint32_t (&b0)[2], std::uint32_t (&b1)[2], Tile tile, int at0, int lds,
                                          int k0, int n0) {
  const int lane = threadIdx.x & 31;
  std::uint32_t r[4];  // (k low, n low), (k high, n low), (k low, n high), (k high, n high)
  ptx::ldmatrix_x4_trans(r, &tile[at0 + (k0 + (lane % 8) + ((lane / 8) % 2) * 8) * lds + n0 + (lane / 16) * 8]);
  b0[0] = r[0];
  b0[1] = r[1];
  b1[0] = r[2];
  b1[1] = r[3];
}

}  // namespace slm::cuda::attention_tiles
