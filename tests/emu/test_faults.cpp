// test_faults.cpp — planted bugs the harness must catch, each with a message that names the
// kernel, the block, the threads and (where the harness can know it) the source line:
// a missing barrier (results differ between the forward and reverse schedules and read poison),
// a divergent barrier, a barrier after some threads returned, a deadlock, an out-of-bounds
// shared access (checked index and a raw-pointer write into the redzone), a misaligned ldmatrix,
// a read of a cp.async destination before its wait, bad warp member masks, and a fiber stack
// overflow (a death test: the guard page ends the process with a message).
// Does not hold: correct-use tests (test_collectives.cpp, test_kernels.cpp).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/ptx.cuh"
#include "kernels/cuda/shared.cuh"
#include "tests/emu/emu_test_util.h"

namespace {

using ::testing::HasSubstr;
using slm::emu::Schedule;
using slm::emu::testing::launch_error;
using slm::emu::testing::ScopedSchedule;

// --- a missing barrier -------------------------------------------------------------------------
__global__ void neighbour_kernel(const float* in, float* out, bool with_barrier) {
  SLM_SHARED(float, values, 64);
  values[threadIdx.x] = in[threadIdx.x];
  if (with_barrier) __syncthreads();
  out[threadIdx.x] = values[(threadIdx.x + 1) % 64];
}

std::vector<float> run_neighbour(Schedule schedule, bool with_barrier) {
  ScopedSchedule scoped(schedule);
  std::vector<float> in(64), out(64, 0.0f);
  for (int i = 0; i < 64; ++i) in[i] = static_cast<float>(i);
  slm::cuda::launch(neighbour_kernel, dim3(1), dim3(64), 0, nullptr, in.data(), out.data(), with_barrier);
  return out;
}

TEST(EmuFaults, MissingBarrierShowsAsScheduleDependentPoison) {
  const auto forward = run_neighbour(Schedule::forward, false);
  const auto reverse = run_neighbour(Schedule::reverse, false);
  EXPECT_NE(std::memcmp(forward.data(), reverse.data(), 64 * sizeof(float)), 0)
      << "a racy kernel gave the same result under both schedules";
  int poisoned = 0;
  for (float v : forward) poisoned += std::isnan(v) ? 1 : 0;
  EXPECT_GT(poisoned, 0) << "reads before the writes must see the NaN poison of fresh shared memory";
  {
    ScopedSchedule shuffled(Schedule::shuffled, 99);
    std::vector<float> out(64, 0.0f), in(64, 1.0f);
    slm::cuda::launch(neighbour_kernel, dim3(1), dim3(64), 0, nullptr, in.data(), out.data(), false);
    int nans = 0;
    for (float v : out) nans += std::isnan(v) ? 1 : 0;
    EXPECT_GT(nans, 0) << "a shuffled order also has readers run before the writers";
  }
  // With the barrier both schedules agree and nothing reads poison.
  const auto good_forward = run_neighbour(Schedule::forward, true);
  const auto good_reverse = run_neighbour(Schedule::reverse, true);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(good_forward[i], static_cast<float>((i + 1) % 64));
    EXPECT_EQ(good_reverse[i], good_forward[i]);
  }
}

// --- barriers in divergent code ---------------------------------------------------------------------
__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.0f;
}

TEST(EmuFaults, DivergentBarrierIsReported) {
  std::vector<float> out(64);
  const std::string message = launch_error(
      [&] { slm::cuda::launch(divergent_barrier_kernel, dim3(2), dim3(64), 0, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("divergent barrier"));
  EXPECT_THAT(message, HasSubstr("divergent_barrier_kernel"));
  EXPECT_THAT(message, HasSubstr("block (0,0,0)"));
  EXPECT_THAT(message, HasSubstr("threads 0-15 at __syncthreads"));
  EXPECT_THAT(message, HasSubstr("threads 16-63 at __syncthreads"));
  EXPECT_THAT(message, HasSubstr("tests/emu/test_faults.cpp:"));
}

__global__ void barrier_after_return_kernel(float* out) {
  if (threadIdx.x >= 32) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

TEST(EmuFaults, BarrierAfterSomeThreadsReturnedIsReported) {
  std::vector<float> out(64);
  for (Schedule schedule : {Schedule::forward, Schedule::reverse}) {
    ScopedSchedule scoped(schedule);
    const std::string message = launch_error(
        [&] { slm::cuda::launch(barrier_after_return_kernel, dim3(1), dim3(64), 0, nullptr, out.data()); });
    EXPECT_THAT(message, HasSubstr("barrier_after_return_kernel"));
    EXPECT_THAT(message, HasSubstr("a barrier in divergent code"));
    EXPECT_THAT(message, ::testing::ContainsRegex("threads? 32"));  // 32 returns first, or 32-63 did
  }
}

__global__ void deadlock_kernel(float* out) {
  float v = static_cast<float>(threadIdx.x);
  if (threadIdx.x == 0) v = __shfl_sync(0x3u, v, 1);  // lane 1 never comes: it waits at the barrier
  __syncthreads();
  out[threadIdx.x] = v;
}

TEST(EmuFaults, DeadlockNamesWhoWaitsWhere) {
  std::vector<float> out(64);
  const std::string message =
      launch_error([&] { slm::cuda::launch(deadlock_kernel, dim3(1), dim3(64), 0, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("deadlock_kernel"));
  EXPECT_THAT(message, HasSubstr("deadlock"));
  EXPECT_THAT(message, HasSubstr("threads 1-63 wait at __syncthreads"));
  EXPECT_THAT(message, HasSubstr("warp 0: lane 0 wait at __shfl*_sync"));
  EXPECT_THAT(message, HasSubstr("for lane 1"));
}

// --- out-of-bounds shared memory ---------------------------------------------------------------------
__global__ void shared_out_of_bounds_kernel(float* out) {
  SLM_SHARED(float, tile, 64);
  tile[threadIdx.x + 1] = 1.0f;  // thread 63 writes tile[64]
  __syncthreads();
  out[threadIdx.x] = tile[threadIdx.x];
}

TEST(EmuFaults, OutOfBoundsSharedIndexIsReported) {
  ScopedSchedule scoped(Schedule::forward);  // which thread trips first depends on the order
  std::vector<float> out(64);
  const std::string message = launch_error(
      [&] { slm::cuda::launch(shared_out_of_bounds_kernel, dim3(1), dim3(64), 0, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("shared_out_of_bounds_kernel"));
  EXPECT_THAT(message, HasSubstr("thread 63"));
  EXPECT_THAT(message, HasSubstr("index 64 of tile[64]"));
}

__global__ void shared_raw_overrun_kernel(float* out) {
  SLM_SHARED(float, tile, 64);
  float* raw = &tile[0];
  raw[threadIdx.x + 2] = 1.0f;  // through a raw pointer: threads 62 and 63 write past the end
  __syncthreads();
  out[threadIdx.x] = 0.0f;
}

TEST(EmuFaults, RawPointerOverrunHitsTheRedzone) {
  std::vector<float> out(64);
  const std::string message = launch_error(
      [&] { slm::cuda::launch(shared_raw_overrun_kernel, dim3(1), dim3(64), 0, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("shared_raw_overrun_kernel"));
  EXPECT_THAT(message, HasSubstr("a write past the end of shared array tile"));
}

__global__ void dynamic_out_of_bounds_kernel(float* out) {
  auto values = slm::cuda::dynamic_shared<float>();
  values[threadIdx.x] = 1.0f;  // 32 threads, 16 floats of dynamic shared memory
  out[threadIdx.x] = values[threadIdx.x];
}

TEST(EmuFaults, OutOfBoundsDynamicSharedIndexIsReported) {
  ScopedSchedule scoped(Schedule::forward);  // which thread trips first depends on the order
  std::vector<float> out(32);
  const std::string message = launch_error([&] {
    slm::cuda::launch(dynamic_out_of_bounds_kernel, dim3(1), dim3(32), 16 * sizeof(float), nullptr, out.data());
  });
  EXPECT_THAT(message, HasSubstr("index 16 of dynamic shared memory[16]"));
}

TEST(EmuFaults, LargeDynamicSharedMemoryNeedsTheAttribute) {
  std::vector<float> out(32);
  const std::size_t bytes = 64 * 1024;
  std::string message = launch_error(
      [&] { slm::cuda::launch(dynamic_out_of_bounds_kernel, dim3(1), dim3(32), bytes, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("need cudaFuncSetAttribute"));
  ASSERT_EQ(cudaFuncSetAttribute(dynamic_out_of_bounds_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(bytes)),
            cudaSuccess);
  message = launch_error(
      [&] { slm::cuda::launch(dynamic_out_of_bounds_kernel, dim3(1), dim3(32), bytes, nullptr, out.data()); });
  EXPECT_EQ(message, "");
}

// --- ldmatrix alignment --------------------------------------------------------------------------
__global__ void misaligned_ldmatrix_kernel(std::uint32_t* out) {
  SLM_SHARED(std::uint16_t, rows, 8 * 9);
  for (int i = threadIdx.x; i < 8 * 9; i += 32) rows[i] = static_cast<std::uint16_t>(i);
  __syncwarp();
  std::uint32_t r[1];
  slm::cuda::ptx::ldmatrix_x1(r, &rows[(threadIdx.x % 8) * 9]);  // rows of 9 elements: 18-byte stride
  out[threadIdx.x] = r[0];
}

TEST(EmuFaults, MisalignedLdmatrixIsReported) {
  ScopedSchedule scoped(Schedule::forward);  // which thread trips first depends on the order
  std::vector<std::uint32_t> out(32);
  const std::string message = launch_error(
      [&] { slm::cuda::launch(misaligned_ldmatrix_kernel, dim3(1), dim3(32), 0, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("misaligned_ldmatrix_kernel"));
  EXPECT_THAT(message, HasSubstr("thread 1 "));
  EXPECT_THAT(message, HasSubstr("is not 16-byte aligned"));
  EXPECT_THAT(message, HasSubstr("tests/emu/test_faults.cpp:"));
}

// --- cp.async -----------------------------------------------------------------------------------------
__global__ void cp_async_early_read_kernel(const float* in, float* out, bool wait_first) {
  SLM_SHARED(float, staged, 128);
  slm::cuda::ptx::cp_async<16>(&staged[4 * threadIdx.x], &in[4 * threadIdx.x], 16);
  slm::cuda::ptx::cp_async_commit();
  if (wait_first) slm::cuda::ptx::cp_async_wait<0>();
  out[threadIdx.x] = staged[4 * threadIdx.x];  // its own copy: fine only after the wait
}

TEST(EmuFaults, ReadOfCpAsyncDestinationBeforeItsWaitIsReported) {
  ScopedSchedule scoped(Schedule::forward);  // which thread trips first depends on the order
  alignas(16) float in[128];
  for (int i = 0; i < 128; ++i) in[i] = static_cast<float>(i);
  std::vector<float> out(32, -1.0f);
  const std::string message = launch_error([&] {
    slm::cuda::launch(cp_async_early_read_kernel, dim3(1), dim3(32), 0, nullptr, in, out.data(), false);
  });
  EXPECT_THAT(message, HasSubstr("cp_async_early_read_kernel"));
  EXPECT_THAT(message, HasSubstr("reads a cp.async destination before its wait"));
  EXPECT_THAT(message, HasSubstr("issued by thread 0 at"));
  EXPECT_THAT(message, HasSubstr("tests/emu/test_faults.cpp:"));
  // With the wait the same kernel is correct.
  slm::cuda::launch(cp_async_early_read_kernel, dim3(1), dim3(32), 0, nullptr, in, out.data(), true);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[i], static_cast<float>(4 * i));
}

// A thread waits for its own copy but reads another thread's without a barrier: pending or
// poison, depending on the schedule, never the data in both.
__global__ void cp_async_no_barrier_kernel(const float* in, float* out) {
  SLM_SHARED(float, staged, 128);
  slm::cuda::ptx::cp_async<16>(&staged[4 * threadIdx.x], &in[4 * threadIdx.x], 16);
  slm::cuda::ptx::cp_async_wait_all();
  out[threadIdx.x] = staged[4 * ((threadIdx.x + 1) % 32)];  // planted bug: no __syncthreads
}

TEST(EmuFaults, CpAsyncWithoutBarrierIsCaughtUnderSomeSchedule) {
  alignas(16) float in[128];
  for (int i = 0; i < 128; ++i) in[i] = static_cast<float>(i);
  bool caught = false;
  for (Schedule schedule : {Schedule::forward, Schedule::reverse}) {
    ScopedSchedule scoped(schedule);
    std::vector<float> out(32, -1.0f);
    const std::string message =
        launch_error([&] { slm::cuda::launch(cp_async_no_barrier_kernel, dim3(1), dim3(32), 0, nullptr, in, out.data()); });
    bool poisoned = false;
    for (float v : out) poisoned = poisoned || std::isnan(v);
    caught = caught || !message.empty() || poisoned;
  }
  EXPECT_TRUE(caught);
}

TEST(EmuFaults, MisalignedCpAsyncIsReported) {
  alignas(16) float in[132] = {};
  std::vector<float> out(32);
  const std::string message = launch_error([&] {
    slm::cuda::launch(cp_async_early_read_kernel, dim3(1), dim3(32), 0, nullptr, in + 1, out.data(), true);
  });
  EXPECT_THAT(message, HasSubstr("misaligned global source"));
}

// --- warp member masks ------------------------------------------------------------------------------
__global__ void mask_without_caller_kernel(float* out) {
  out[threadIdx.x] = __shfl_sync(0x0000ffffu, 1.0f, 0);  // lanes 16-31 call it too
}

TEST(EmuFaults, MemberMaskWithoutTheCallingLaneIsReported) {
  ScopedSchedule scoped(Schedule::forward);  // which thread trips first depends on the order
  std::vector<float> out(32);
  const std::string message =
      launch_error([&] { slm::cuda::launch(mask_without_caller_kernel, dim3(1), dim3(32), 0, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("does not name the calling lane"));
  EXPECT_THAT(message, HasSubstr("lane 16"));
}

__global__ void mismatched_masks_kernel(float* out) {
  const unsigned mask = threadIdx.x == 5 ? 0x0000ffffu : 0xffffffffu;
  out[threadIdx.x] = __shfl_sync(mask, 1.0f, 0);
}

TEST(EmuFaults, MismatchedMemberMasksAreReported) {
  std::vector<float> out(32);
  const std::string message =
      launch_error([&] { slm::cuda::launch(mismatched_masks_kernel, dim3(1), dim3(32), 0, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("warp collectives do not match"));
}

__global__ void mma_in_divergent_code_kernel(float* out) {
  float d[4] = {0, 0, 0, 0};
  const std::uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
  const float c[4] = {0, 0, 0, 0};
  if (threadIdx.x < 16) slm::cuda::ptx::mma_m16n8k16_bf16(d, a, b, c);
  out[threadIdx.x] = d[0];
}

TEST(EmuFaults, MmaWithoutAllLanesIsReported) {
  std::vector<float> out(32);
  const std::string message = launch_error(
      [&] { slm::cuda::launch(mma_in_divergent_code_kernel, dim3(1), dim3(32), 0, nullptr, out.data()); });
  EXPECT_THAT(message, HasSubstr("mma.sync.m16n8k16"));
  EXPECT_THAT(message, HasSubstr("needs all 32 lanes"));
}

// --- a fiber stack overflow -------------------------------------------------------------------------
__attribute__((noinline)) float deep(int depth) {
  volatile float frame[1024];  // 4 KiB per level
  frame[depth % 1024] = static_cast<float>(depth);
  return depth == 0 ? frame[0] : deep(depth - 1) + frame[depth % 1024];
}

__global__ void stack_overflow_kernel(float* out) { out[threadIdx.x] = deep(threadIdx.x == 3 ? 200 : 1); }

TEST(EmuFaultsDeathTest, StackOverflowNamesTheThread) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  std::vector<float> out(32);
  EXPECT_DEATH(slm::cuda::launch(stack_overflow_kernel, dim3(1), dim3(32), 0, nullptr, out.data()),
               "the stack of CUDA thread 3 of block \\(0,0,0\\) overflowed");
}

}  // namespace
