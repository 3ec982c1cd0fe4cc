// test_layouts.cpp — the harness's tensor-core fragments against tables written from the PTX ISA
// ("Matrix fragments for mma.m16n8k16 with floating point type" and "ldmatrix"), lane by lane.
//
// The tables below are a second reading of the ISA's figures, written as per-register
// (row, column) lists rather than the harness's formulas (kernels/emu/warp.cpp): if the two
// readings disagree, a lane and an element are named. Values are small integers, so the
// products and sums are exact and any difference is a layout difference.
// Does not hold: the GEMM (test_gemm.cpp) or the fault checks (test_faults.cpp).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/ptx.cuh"
#include "kernels/cuda/shared.cuh"

namespace {

// --- the ISA's tables, g = lane / 4 ("groupID"), t = lane % 4 ("threadID_in_group") -----------
struct Cell {
  int row, col;
};
// A (16 x 16, .row): register r holds two elements, low half first.
Cell a_cell(int lane, int reg, int half) {
  const int g = lane / 4, t = lane % 4;
  static const Cell base[4] = {{0, 0}, {8, 0}, {0, 8}, {8, 8}};  // a0a1, a2a3, a4a5, a6a7
  return {g + base[reg].row, 2 * t + half + base[reg].col};
}
// B (16 x 8, k x n, .col): b0b1 in register 0, b2b3 in register 1.
Cell b_cell(int lane, int reg, int half) {
  const int g = lane / 4, t = lane % 4;
  return {2 * t + half + (reg == 1 ? 8 : 0), g};
}
// C and D (16 x 8 fp32): c0, c1 on row g, c2, c3 on row g + 8.
Cell c_cell(int lane, int i) {
  const int g = lane / 4, t = lane % 4;
  static const Cell base[4] = {{0, 0}, {0, 1}, {8, 0}, {8, 1}};
  return {g + base[i].row, 2 * t + base[i].col};
}

std::uint16_t to_16(float v, bool bf16) {
  return bf16 ? __nv_bfloat16(v).bits : __half(v).bits;
}

// Each lane packs its fragment registers from full matrices by the tables, runs one mma, and
// writes its four results: out[lane][4].
__global__ void mma_kernel(const std::uint16_t* a, const std::uint16_t* b, const float* c, float* out, bool bf16) {
  const int lane = threadIdx.x;
  std::uint32_t ar[4], br[2];
  float cr[4], dr[4];
  for (int r = 0; r < 4; ++r) {
    const Cell lo = a_cell(lane, r, 0), hi = a_cell(lane, r, 1);
    ar[r] = a[lo.row * 16 + lo.col] | static_cast<std::uint32_t>(a[hi.row * 16 + hi.col]) << 16;
  }
  for (int r = 0; r < 2; ++r) {
    const Cell lo = b_cell(lane, r, 0), hi = b_cell(lane, r, 1);
    br[r] = b[lo.row * 8 + lo.col] | static_cast<std::uint32_t>(b[hi.row * 8 + hi.col]) << 16;
  }
  for (int i = 0; i < 4; ++i) cr[i] = c[c_cell(lane, i).row * 8 + c_cell(lane, i).col];
  if (bf16)
    slm::cuda::ptx::mma_m16n8k16_bf16(dr, ar, br, cr);
  else
    slm::cuda::ptx::mma_m16n8k16_f16(dr, ar, br, cr);
  for (int i = 0; i < 4; ++i) out[lane * 4 + i] = dr[i];
}

void check_mma(bool bf16) {
  std::vector<float> a(16 * 16), b(16 * 8), c(16 * 8);
  for (int i = 0; i < 256; ++i) a[i] = static_cast<float>((i * 7) % 17 - 8);
  for (int i = 0; i < 128; ++i) b[i] = static_cast<float>((i * 5) % 13 - 6);
  for (int i = 0; i < 128; ++i) c[i] = static_cast<float>(i % 11 - 5) * 100.0f;
  std::vector<std::uint16_t> a16(256), b16(128);
  for (int i = 0; i < 256; ++i) a16[i] = to_16(a[i], bf16);
  for (int i = 0; i < 128; ++i) b16[i] = to_16(b[i], bf16);
  std::vector<float> out(32 * 4, -1.0f);
  slm::cuda::launch(mma_kernel, dim3(1), dim3(32), 0, nullptr, a16.data(), b16.data(), c.data(), out.data(), bf16);
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const Cell d = c_cell(lane, i);
      double expected = c[d.row * 8 + d.col];
      for (int k = 0; k < 16; ++k) expected += static_cast<double>(a[d.row * 16 + k]) * b[k * 8 + d.col];
      EXPECT_EQ(out[lane * 4 + i], static_cast<float>(expected))
          << (bf16 ? "bf16" : "f16") << " lane " << lane << " d" << i << " = D[" << d.row << "][" << d.col << "]";
    }
}

TEST(EmuLayouts, MmaBf16FragmentsMatchTheIsaTables) { check_mma(true); }
TEST(EmuLayouts, MmaF16FragmentsMatchTheIsaTables) { check_mma(false); }

// Each of the four 8x8 matrices has element (j, r, c) = 1000 j + 10 r + c (exact in 16 bits);
// its rows lie scattered in shared memory (row (j, r) in slot (5 * (8j + r) + 3) % 32), so the
// per-lane row addresses matter. Lanes beyond the matrices pass a null address, which must be
// ignored. out[lane][4] gets each lane's registers.
__global__ void ldmatrix_kernel(int count, bool trans, std::uint32_t* out) {
  SLM_SHARED(std::uint16_t, rows, 32 * 8);
  const int lane = threadIdx.x;
  {
    const int j = lane / 8, r = lane % 8, slot = (5 * lane + 3) % 32;
    for (int c = 0; c < 8; ++c) rows[slot * 8 + c] = static_cast<std::uint16_t>(1000 * j + 10 * r + c);
  }
  __syncwarp();
  const void* row = lane < 8 * count ? static_cast<const void*>(&rows[((5 * lane + 3) % 32) * 8]) : nullptr;
  std::uint32_t r[4] = {0, 0, 0, 0};
  using namespace slm::cuda::ptx;
  if (count == 1) {
    std::uint32_t x[1];
    trans ? ldmatrix_x1_trans(x, row) : ldmatrix_x1(x, row);
    r[0] = x[0];
  } else if (count == 2) {
    std::uint32_t x[2];
    trans ? ldmatrix_x2_trans(x, row) : ldmatrix_x2(x, row);
    r[0] = x[0], r[1] = x[1];
  } else {
    trans ? ldmatrix_x4_trans(r, row) : ldmatrix_x4(r, row);
  }
  for (int i = 0; i < 4; ++i) out[lane * 4 + i] = r[i];
}

// The ISA: without .trans, lane l receives row l/4, columns 2(l%4) and 2(l%4)+1 of matrix j in
// register j; with .trans it receives column l/4, rows 2(l%4) and 2(l%4)+1.
void check_ldmatrix(int count, bool trans) {
  std::vector<std::uint32_t> out(32 * 4, 0xdeadbeefu);
  slm::cuda::launch(ldmatrix_kernel, dim3(1), dim3(32), 0, nullptr, count, trans, out.data());
  auto element = [](int j, int r, int c) { return static_cast<std::uint32_t>(1000 * j + 10 * r + c); };
  for (int lane = 0; lane < 32; ++lane)
    for (int j = 0; j < count; ++j) {
      const int a = lane / 4, b = 2 * (lane % 4);
      const std::uint32_t lo = trans ? element(j, b, a) : element(j, a, b);
      const std::uint32_t hi = trans ? element(j, b + 1, a) : element(j, a, b + 1);
      EXPECT_EQ(out[lane * 4 + j], lo | hi << 16)
          << "ldmatrix .x" << count << (trans ? ".trans" : "") << " lane " << lane << " register " << j;
    }
}

TEST(EmuLayouts, LdmatrixX1) { check_ldmatrix(1, false); }
TEST(EmuLayouts, LdmatrixX2) { check_ldmatrix(2, false); }
TEST(EmuLayouts, LdmatrixX4) { check_ldmatrix(4, false); }
TEST(EmuLayouts, LdmatrixX1Trans) { check_ldmatrix(1, true); }
TEST(EmuLayouts, LdmatrixX2Trans) { check_ldmatrix(2, true); }
TEST(EmuLayouts, LdmatrixX4Trans) { check_ldmatrix(4, true); }

// PTX-NOTES' consequence: lane l at &A[l % 16][(l / 16) * 8] with .x4 yields the A registers of
// mma, and .x2.trans over a row-major [k][n] B tile with lane l at &B[l % 16][0] yields the B
// registers, checked against the same tables.
__global__ void ldmatrix_to_mma_kernel(const std::uint16_t* a, const std::uint16_t* b_kn, std::uint32_t* out) {
  SLM_SHARED(std::uint16_t, a_tile, 16 * 16);
  SLM_SHARED(std::uint16_t, b_tile, 16 * 8);
  const int lane = threadIdx.x;
  for (int i = lane; i < 256; i += 32) a_tile[i] = a[i];
  for (int i = lane; i < 128; i += 32) b_tile[i] = b_kn[i];
  __syncwarp();
  std::uint32_t ar[4], br[2];
  slm::cuda::ptx::ldmatrix_x4(ar, &a_tile[(lane % 16) * 16 + (lane / 16) * 8]);
  slm::cuda::ptx::ldmatrix_x2_trans(br, &b_tile[(lane % 16) * 8]);
  for (int i = 0; i < 4; ++i) out[lane * 6 + i] = ar[i];
  for (int i = 0; i < 2; ++i) out[lane * 6 + 4 + i] = br[i];
}

TEST(EmuLayouts, LdmatrixFeedsMmaFragments) {
  std::vector<std::uint16_t> a(256), b(128);
  for (int i = 0; i < 256; ++i) a[i] = static_cast<std::uint16_t>(i);
  for (int i = 0; i < 128; ++i) b[i] = static_cast<std::uint16_t>(1000 + i);
  std::vector<std::uint32_t> out(32 * 6);
  slm::cuda::launch(ldmatrix_to_mma_kernel, dim3(1), dim3(32), 0, nullptr, a.data(), b.data(), out.data());
  for (int lane = 0; lane < 32; ++lane) {
    for (int r = 0; r < 4; ++r) {
      const Cell lo = a_cell(lane, r, 0), hi = a_cell(lane, r, 1);
      EXPECT_EQ(out[lane * 6 + r], a[lo.row * 16 + lo.col] | static_cast<std::uint32_t>(a[hi.row * 16 + hi.col]) << 16)
          << "A register " << r << " of lane " << lane;
    }
    for (int r = 0; r < 2; ++r) {
      const Cell lo = b_cell(lane, r, 0), hi = b_cell(lane, r, 1);
      EXPECT_EQ(out[lane * 6 + 4 + r], b[lo.row * 8 + lo.col] | static_cast<std::uint32_t>(b[hi.row * 8 + hi.col]) << 16)
          << "B register " << r << " of lane " << lane;
    }
  }
}

}  // namespace
