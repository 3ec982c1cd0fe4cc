// test_collectives.cpp — correct use of what the harness emulates, against host-computed
// expectations: shuffles (idx, up, down, xor; full and sub-warp widths; 4- and 8-byte values),
// votes, __syncthreads_count/and/or, __syncwarp, global and shared atomics across blocks,
// dynamic shared memory, 3-D blocks and partial warps, cp.async zero-fill and wait_group
// ordering, math intrinsics, the bf16/fp16 conversions.
// Does not hold: fragment layouts (test_layouts.cpp), planted bugs (test_faults.cpp).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/ptx.cuh"
#include "kernels/cuda/shared.cuh"
#include "tests/emu/emu_test_util.h"

namespace {

using slm::emu::Schedule;
using slm::emu::testing::ScopedSchedule;

// out[5][64]: idx, up, down, xor over the full warp, and idx with width 8.
__global__ void shuffle_kernel(int* out) {
  const int lane = threadIdx.x & 31, t = threadIdx.x;
  const int v = 100 * t;
  out[0 * 64 + t] = __shfl_sync(0xffffffffu, v, (lane * 7) % 32);
  out[1 * 64 + t] = __shfl_up_sync(0xffffffffu, v, 3);
  out[2 * 64 + t] = __shfl_down_sync(0xffffffffu, v, 5);
  out[3 * 64 + t] = __shfl_xor_sync(0xffffffffu, v, 9);
  out[4 * 64 + t] = __shfl_sync(0xffffffffu, v, 3, 8);
}

TEST(EmuCollectives, Shuffles) {
  std::vector<int> out(5 * 64, -1);
  slm::cuda::launch(shuffle_kernel, dim3(1), dim3(64), 0, nullptr, out.data());
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32, warp0 = t - lane;
    EXPECT_EQ(out[t], 100 * (warp0 + (lane * 7) % 32)) << t;
    EXPECT_EQ(out[64 + t], 100 * (lane >= 3 ? t - 3 : t)) << t;
    EXPECT_EQ(out[128 + t], 100 * (lane + 5 < 32 ? t + 5 : t)) << t;
    EXPECT_EQ(out[192 + t], 100 * (warp0 + (lane ^ 9))) << t;
    EXPECT_EQ(out[256 + t], 100 * (warp0 + (lane & ~7) + 3)) << t;
  }
}

// A warp sum by xor butterfly in double (8-byte shuffles) and a sub-warp sum over 16 lanes.
__global__ void reduce_kernel(const double* in, double* out) {
  double v = in[threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  float h = static_cast<float>(threadIdx.x);
  if (threadIdx.x < 16)
    for (int offset = 8; offset > 0; offset /= 2) h += __shfl_down_sync(0x0000ffffu, h, offset, 16);
  out[threadIdx.x] = v;
  if (threadIdx.x == 0) out[32] = h;
}

TEST(EmuCollectives, WarpReductionsAndSubWarpMasks) {
  std::vector<double> in(32), out(33);
  double sum = 0;
  for (int i = 0; i < 32; ++i) sum += in[i] = 0.1 * i + 1e-9;
  slm::cuda::launch(reduce_kernel, dim3(1), dim3(32), 0, nullptr, in.data(), out.data());
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(out[i], sum, 1e-12);
  EXPECT_EQ(out[32], 120.0);  // 0 + 1 + ... + 15
}

__global__ void vote_kernel(unsigned* out) {
  const int t = threadIdx.x;
  out[t] = __ballot_sync(0xffffffffu, t % 3 == 0);
  out[32 + t] = static_cast<unsigned>(__any_sync(0xffffffffu, t == 17));
  out[64 + t] = static_cast<unsigned>(__all_sync(0xffffffffu, t < 31));
  out[96 + t] = static_cast<unsigned>(__all_sync(0xffffffffu, t >= 0));
}

TEST(EmuCollectives, Votes) {
  std::vector<unsigned> out(128);
  slm::cuda::launch(vote_kernel, dim3(1), dim3(32), 0, nullptr, out.data());
  unsigned ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  for (int t = 0; t < 32; ++t) {
    EXPECT_EQ(out[t], ballot);
    EXPECT_EQ(out[32 + t], 1u);
    EXPECT_EQ(out[64 + t], 0u);
    EXPECT_EQ(out[96 + t], 1u);
  }
}

// __syncthreads_count / _and / _or over 96 threads, twice in a row (the generations alternate).
__global__ void sync_count_kernel(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int a = __syncthreads_count(t % 4 == 0);
  const int b = __syncthreads_and(t < 96);
  const int c = __syncthreads_or(t == 95);
  const int d = __syncthreads_count(t >= 90);
  if (t == 0 || t == 95) {
    out[(t ? 4 : 0) + 0] = a;
    out[(t ? 4 : 0) + 1] = b;
    out[(t ? 4 : 0) + 2] = c;
    out[(t ? 4 : 0) + 3] = d;
  }
}

TEST(EmuCollectives, SyncthreadsCountAndOr) {
  for (Schedule schedule : {Schedule::forward, Schedule::reverse, Schedule::shuffled}) {
    ScopedSchedule scoped(schedule);
    std::vector<int> out(8, -1);
    slm::cuda::launch(sync_count_kernel, dim3(1), dim3(96), 0, nullptr, out.data());
    for (int who = 0; who < 2; ++who) {
      EXPECT_EQ(out[4 * who + 0], 24);
      EXPECT_EQ(out[4 * who + 1], 1);
      EXPECT_EQ(out[4 * who + 2], 1);
      EXPECT_EQ(out[4 * who + 3], 6);
    }
  }
}

// A partial last warp (blockDim 40): full-mask collectives involve only the lanes that exist.
__global__ void partial_warp_kernel(unsigned* out) {
  out[threadIdx.x] = __ballot_sync(0xffffffffu, 1);
}

TEST(EmuCollectives, PartialWarpBallot) {
  std::vector<unsigned> out(40);
  slm::cuda::launch(partial_warp_kernel, dim3(1), dim3(40), 0, nullptr, out.data());
  for (int t = 0; t < 32; ++t) EXPECT_EQ(out[t], 0xffffffffu);
  for (int t = 32; t < 40; ++t) EXPECT_EQ(out[t], 0xffu);
}

// __syncwarp orders shared memory within a warp: each lane reads the value its neighbour wrote.
__global__ void syncwarp_kernel(int* out) {
  SLM_SHARED(int, values, 32);
  values[threadIdx.x] = static_cast<int>(threadIdx.x) * 3;
  __syncwarp();
  out[threadIdx.x] = values[(threadIdx.x + 1) % 32];
}

TEST(EmuCollectives, SyncwarpUnderBothSchedules) {
  for (Schedule schedule : {Schedule::forward, Schedule::reverse}) {
    ScopedSchedule scoped(schedule);
    std::vector<int> out(32);
    slm::cuda::launch(syncwarp_kernel, dim3(1), dim3(32), 0, nullptr, out.data());
    for (int t = 0; t < 32; ++t) EXPECT_EQ(out[t], ((t + 1) % 32) * 3);
  }
}

// Shared atomics within a block, global atomics across blocks (which run on several OS threads).
__global__ void atomics_kernel(int* counter, float* sum, unsigned* maximum) {
  SLM_SHARED(int, block_count, 1);
  if (threadIdx.x == 0) block_count[0] = 0;
  __syncthreads();
  atomicAdd(&block_count[0], 1);
  __syncthreads();
  if (threadIdx.x == 0) atomicAdd(counter, block_count[0]);
  atomicAdd(sum, 0.5f);
  atomicMax(maximum, blockIdx.x * blockDim.x + threadIdx.x);
}

TEST(EmuCollectives, AtomicsAcrossBlocks) {
  int counter = 0;
  float sum = 0;
  unsigned maximum = 0;
  slm::cuda::launch(atomics_kernel, dim3(37), dim3(96), 0, nullptr, &counter, &sum, &maximum);
  EXPECT_EQ(counter, 37 * 96);
  EXPECT_EQ(sum, 0.5f * 37 * 96);
  EXPECT_EQ(maximum, 37u * 96 - 1);
}

// Dynamic shared memory, a 3-D block and a 2-D grid: each block reverses its 4x4x4 cube.
__global__ void cube_kernel(const float* in, float* out) {
  auto cube = slm::cuda::dynamic_shared<float>();
  const unsigned t = threadIdx.x + 4 * (threadIdx.y + 4 * threadIdx.z);
  const unsigned block = blockIdx.x + gridDim.x * blockIdx.y;
  cube[t] = in[64 * block + t];
  __syncthreads();
  out[64 * block + t] = cube[63 - t] + static_cast<float>(blockDim.x * 100);
}

TEST(EmuCollectives, DynamicSharedMemoryAndThreeDimensionalBlocks) {
  std::vector<float> in(64 * 6), out(64 * 6);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  slm::cuda::launch(cube_kernel, dim3(3, 2), dim3(4, 4, 4), 64 * sizeof(float), nullptr, in.data(), out.data());
  for (int b = 0; b < 6; ++b)
    for (int t = 0; t < 64; ++t) EXPECT_EQ(out[64 * b + t], in[64 * b + 63 - t] + 400.0f);
}

// cp.async: zero-fill past src_bytes for 4, 8 and 16 bytes, and wait_group 1 completing only the
// older group.
__global__ void cp_async_kernel(const float* in, float* out) {
  SLM_SHARED(float, staged, 4 * 3 + 4);
  if (threadIdx.x == 0) {
    slm::cuda::ptx::cp_async<16>(&staged[0], &in[0], 12);  // 3 floats, 1 zero
    slm::cuda::ptx::cp_async<8>(&staged[4], &in[4], 4);    // 1 float, 1 zero
    slm::cuda::ptx::cp_async_commit();
    slm::cuda::ptx::cp_async<4>(&staged[8], &in[8], 4);
    slm::cuda::ptx::cp_async<4>(&staged[9], &in[9], 0);  // zero only
    slm::cuda::ptx::cp_async_commit();
    slm::cuda::ptx::cp_async_wait<1>();  // the first group is done
    for (int i = 0; i < 6; ++i) out[i] = staged[i];
    slm::cuda::ptx::cp_async_wait<0>();
    out[6] = staged[8];
    out[7] = staged[9];
  }
}

TEST(EmuCollectives, CpAsyncZeroFillAndGroups) {
  alignas(16) float in[16];
  for (int i = 0; i < 16; ++i) in[i] = static_cast<float>(i + 1);
  std::vector<float> out(8, -1.0f);
  slm::cuda::launch(cp_async_kernel, dim3(1), dim3(32), 0, nullptr, in, out.data());
  const float expected[8] = {1, 2, 3, 0, 5, 0, 9, 0};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], expected[i]) << i;
}

__global__ void intrinsics_kernel(float* f, int* i) {
  f[0] = __expf(1.0f);
  f[1] = rsqrtf(4.0f);
  f[2] = __fdividef(1.0f, 8.0f);
  f[3] = __saturatef(1.5f);
  f[4] = __fmaf_rn(2.0f, 3.0f, 1.0f);
  f[5] = max(2.0f, -1.0f);
  f[6] = __uint_as_float(0x3f800000u);
  i[0] = __popc(0xf0f0u);
  i[1] = __clz(1);
  i[2] = __ffs(8);
  i[3] = static_cast<int>(__brev(1u) >> 31);
  i[4] = min(3, -7);
  i[5] = static_cast<int>(__float_as_uint(1.0f) >> 23);
}

TEST(EmuCollectives, MathIntrinsics) {
  std::vector<float> f(7);
  std::vector<int> i(6);
  slm::cuda::launch(intrinsics_kernel, dim3(1), dim3(1), 0, nullptr, f.data(), i.data());
  EXPECT_NEAR(f[0], 2.7182817f, 1e-6f);
  EXPECT_EQ(f[1], 0.5f);
  EXPECT_EQ(f[2], 0.125f);
  EXPECT_EQ(f[3], 1.0f);
  EXPECT_EQ(f[4], 7.0f);
  EXPECT_EQ(f[5], 2.0f);
  EXPECT_EQ(f[6], 1.0f);
  EXPECT_EQ(i[0], 8);
  EXPECT_EQ(i[1], 31);
  EXPECT_EQ(i[2], 4);
  EXPECT_EQ(i[3], 1);
  EXPECT_EQ(i[4], -7);
  EXPECT_EQ(i[5], 127);
}

TEST(EmuCollectives, SixteenBitConversionsRoundToNearestEven) {
  EXPECT_EQ(__nv_bfloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(__nv_bfloat16(1.00390625f).bits, 0x3f80);   // halfway to 0x3f81: even stays
  EXPECT_EQ(__nv_bfloat16(1.01171875f).bits, 0x3f82);   // halfway between 0x3f81 and 0x3f82: even
  EXPECT_EQ(__half(1.0f).bits, 0x3c00);
  EXPECT_EQ(__half(65520.0f).bits, 0x7c00);             // rounds to infinity
  EXPECT_EQ(static_cast<float>(__half(5.9604645e-08f)), 5.9604645e-08f);  // smallest subnormal
  EXPECT_TRUE(std::isnan(static_cast<float>(__nv_bfloat16(std::nanf("")))));
}

}  // namespace
