// test_rmsnorm.cpp — the CUDA RMSNorm (kernels/cuda/rmsnorm.h) under the emulation harness
// against its CPU twin (kernels/cpu/layers.h, layers_backward.h): forward (also in place),
// backward overwriting (also in place on dy) and accumulating, on small and odd shapes that
// take both block sizes, the float4 and the scalar path, guard elements around every array, and
// identical bits under every schedule.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device, without the
// schedule comparison (harness only).
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/cpu/layers.h"
#include "kernels/cpu/layers_backward.h"
#include "kernels/cuda/rmsnorm.h"
#include "tests/emu/ops/device_buffer.h"
#if SLM_EMU_TESTS
#include "tests/emu/emu_test_util.h"
#endif

namespace {

using slm::ops_test::DeviceArray;

struct Shape {
  std::int64_t t, d;
};
// d 1024 and below take the 128-thread block, above it the 256-thread one.
const Shape k_shapes[] = {{1, 1}, {3, 40}, {5, 100}, {7, 33}, {2, 1500}, {4, 1024}, {9, 1025}, {70, 64}};
// Every shape runs twice: with the launcher's grid (a block per row) and with at most 3 blocks,
// so that blocks take further rows by grid-stride and reuse their shared reduction slots.
const int k_grid_limits[] = {0, 3};

std::vector<float> random_vector(std::size_t n, unsigned seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng);
  return v;
}

// Largest |got - want| / (|want| + scale of its row): relative error, with the row's scale as the
// floor where an element cancels to near zero. The scale is mean |want| of the row, or at least
// row_scale[row] when given (backward: the size of the terms that cancel).
double max_relative_error(const std::vector<float>& got, const std::vector<float>& want, std::int64_t d,
                          const std::vector<double>& row_scale = {}) {
  double worst = 0;
  for (std::size_t row = 0; row * d < want.size(); ++row) {
    double mean = 0;
    for (std::int64_t j = 0; j < d; ++j) mean += std::fabs(want[row * d + j]);
    mean /= static_cast<double>(d);
    if (!row_scale.empty()) mean = std::max(mean, row_scale[row]);
    for (std::int64_t j = 0; j < d; ++j) {
      const std::size_t i = row * d + j;
      if (!std::isfinite(got[i])) return INFINITY;
      worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]) / (std::fabs(want[i]) + mean + 1e-30));
    }
  }
  return worst;
}

constexpr double k_tolerance = 1e-5;

// With SLM_OPS_VERBOSE set, prints the largest error of a test (silent otherwise).
void report(const char* what, double error) {
  if (std::getenv("SLM_OPS_VERBOSE")) std::printf("%s: max relative error %.3g\n", what, error);
}

// A copy of v in device memory, starting `offset` floats past the (256-byte) alignment: offset 0
// lets rows with D % 4 == 0 take the float4 path, offset 1 makes them take the scalar one. Guard
// elements before (offset 1) and after it hold k_guard.
constexpr float k_guard = -777.0f;
struct Device : DeviceArray<float> {
  Device(const std::vector<float>& v, int offset) : DeviceArray<float>(v, k_guard, static_cast<std::size_t>(offset)) {}
  float* p() { return get(); }
};

TEST(CudaOpsRmsNorm, ForwardMatchesTheCpuTwin) {
  double worst = 0;
  for (const Shape s : k_shapes)
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1}) {
        const std::size_t n = static_cast<std::size_t>(s.t * s.d);
        const std::vector<float> x = random_vector(n, 1), w = random_vector(static_cast<std::size_t>(s.d), 2, 0.5f, 1.5f);
        std::vector<float> want(n);
        slm::cpu::rmsnorm_forward(want.data(), x.data(), w.data(), s.t, s.d, 1e-5f);
        Device dx(x, offset), dw(w, offset), dout(std::vector<float>(n, 123.0f), offset);
        slm::cuda::rmsnorm_forward({dout.p(), dx.p(), dw.p(), s.t, s.d, 1e-5f, grid}, nullptr);
        const std::vector<float> got = dout.download();
        const double error = max_relative_error(got, want, s.d);
        worst = std::max(worst, error);
        EXPECT_LT(error, k_tolerance) << "T " << s.t << " D " << s.d << " grid limit " << grid << " offset " << offset;
        slm::cuda::rmsnorm_forward({dx.p(), dx.p(), dw.p(), s.t, s.d, 1e-5f, grid}, nullptr);  // out aliases x
        EXPECT_EQ(std::memcmp(dx.download().data(), got.data(), n * sizeof(float)), 0)
            << "in place, T " << s.t << " D " << s.d << " offset " << offset;
        EXPECT_TRUE(dout.guards_intact() && dx.guards_intact() && dw.guards_intact())
            << "T " << s.t << " D " << s.d << " grid limit " << grid << " offset " << offset;
      }
  report("rmsnorm forward", worst);
}

TEST(CudaOpsRmsNorm, BackwardMatchesTheCpuTwin) {
  double worst = 0;
  for (const Shape s : k_shapes) {
    const std::size_t n = static_cast<std::size_t>(s.t * s.d);
    const std::vector<float> x = random_vector(n, 3), dy = random_vector(n, 4),
                             w = random_vector(static_cast<std::size_t>(s.d), 5, 0.5f, 1.5f);
    // The terms r * dy * w and c * x cancel (exactly so for D = 1): their size is the error's scale.
    std::vector<double> scale(static_cast<std::size_t>(s.t));
    for (std::int64_t row = 0; row < s.t; ++row) {
      double sum_sq = 0, sum_gw = 0;
      for (std::int64_t j = 0; j < s.d; ++j) {
        sum_sq += static_cast<double>(x[row * s.d + j]) * x[row * s.d + j];
        sum_gw += std::fabs(static_cast<double>(dy[row * s.d + j]) * w[j]);
      }
      scale[row] = sum_gw / s.d / std::sqrt(sum_sq / s.d + 1e-6);
    }
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1})
        for (const bool accumulate : {false, true}) {
          const std::vector<float> before = random_vector(n, 6);
          std::vector<float> want = before;
          slm::cpu::rmsnorm_backward(want.data(), dy.data(), x.data(), w.data(), s.t, s.d, 1e-6f, accumulate);
          Device ddx(before, offset), ddy(dy, offset), dx(x, offset), dw(w, offset);
          slm::cuda::rmsnorm_backward({ddx.p(), ddy.p(), dx.p(), dw.p(), s.t, s.d, 1e-6f, accumulate, grid}, nullptr);
          const std::vector<float> got = ddx.download();
          const double error = max_relative_error(got, want, s.d, scale);
          worst = std::max(worst, error);
          EXPECT_LT(error, k_tolerance) << "T " << s.t << " D " << s.d << " grid limit " << grid << " offset " << offset
                                        << (accumulate ? " accumulate" : " overwrite");
          if (!accumulate) {  // dx aliases dy
            slm::cuda::rmsnorm_backward({ddy.p(), ddy.p(), dx.p(), dw.p(), s.t, s.d, 1e-6f, false, grid}, nullptr);
            EXPECT_EQ(std::memcmp(ddy.download().data(), got.data(), n * sizeof(float)), 0)
                << "in place, T " << s.t << " D " << s.d << " offset " << offset;
          }
          EXPECT_TRUE(ddx.guards_intact() && ddy.guards_intact())
              << "T " << s.t << " D " << s.d << " grid limit " << grid << " offset " << offset;
        }
  }
  report("rmsnorm backward", worst);
}

// The bf16 copy is the fp32 output rounded to nearest even, with or without the fp32 output, and
// so within one bf16 rounding of the CPU twin.
TEST(CudaOpsRmsNorm, Bf16OutputIsTheFp32OutputRounded) {
  for (const Shape s : k_shapes)
    for (const int offset : {0, 1}) {
      const std::size_t n = static_cast<std::size_t>(s.t * s.d);
      const std::vector<float> x = random_vector(n, 11), w = random_vector(static_cast<std::size_t>(s.d), 12);
      std::vector<float> want(n);
      slm::cpu::rmsnorm_forward(want.data(), x.data(), w.data(), s.t, s.d, 1e-6f);
      Device dx(x, offset), dw(w, offset), dout(std::vector<float>(n), offset);
      const __nv_bfloat16 guard = slm::ops_test::to_bf16(k_guard);
      DeviceArray<__nv_bfloat16> with_fp32(n, guard), alone(n, guard);
      slm::cuda::RmsNormParams p{dout.p(), dx.p(), dw.p(), s.t, s.d, 1e-6f};
      p.out_bf16 = with_fp32.get();
      slm::cuda::rmsnorm_forward(p, nullptr);
      p.out = nullptr;
      p.out_bf16 = alone.get();
      slm::cuda::rmsnorm_forward(p, nullptr);
      ASSERT_TRUE(with_fp32.guards_intact() && alone.guards_intact()) << "T " << s.t << " D " << s.d;
      const std::vector<float> out = dout.download();
      const std::vector<__nv_bfloat16> with_fp32_got = with_fp32.download(), alone_got = alone.download();
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t rounded = slm::fp32_to_bf16(out[i]);
        ASSERT_EQ(slm::ops_test::bits_of(with_fp32_got[i]), rounded) << "T " << s.t << " D " << s.d << " element " << i;
        ASSERT_EQ(slm::ops_test::bits_of(alone_got[i]), rounded) << "T " << s.t << " D " << s.d << " element " << i;
        EXPECT_LE(std::fabs(slm::ops_test::to_float(alone_got[i]) - want[i]), std::fabs(want[i]) / 256 + 1e-30f) << i;
      }
    }
}

TEST(CudaOpsRmsNorm, EmptyInputWritesNothing) {
  DeviceArray<float> out(4, 7.0f), x(4, 1.0f), w(4, 1.0f);
  slm::cuda::rmsnorm_forward({out.get(), x.get(), w.get(), 0, 4, 1e-6f}, nullptr);
  slm::cuda::rmsnorm_backward({out.get(), x.get(), x.get(), w.get(), 0, 4, 1e-6f, false}, nullptr);
  for (const float v : out.download()) EXPECT_EQ(v, 7.0f);
  EXPECT_TRUE(out.guards_intact());
}

#if SLM_EMU_TESTS
TEST(CudaOpsRmsNorm, IdenticalBitsUnderEverySchedule) {
  using slm::emu::Schedule;
  using slm::emu::testing::ScopedSchedule;
  const Shape s{5, 1500};
  const std::size_t n = static_cast<std::size_t>(s.t * s.d);
  const std::vector<float> x = random_vector(n, 7), dy = random_vector(n, 8), w = random_vector(1500, 9);
  std::vector<float> first_y, first_dx;
  for (const auto& [schedule, seed] : {std::pair{Schedule::forward, 1}, std::pair{Schedule::reverse, 1},
                                      std::pair{Schedule::shuffled, 3}, std::pair{Schedule::shuffled, 99}}) {
    ScopedSchedule scoped(schedule, static_cast<std::uint64_t>(seed));
    DeviceArray<float> dev_y(n, 0.0f), dev_dx(n, 0.0f);
    const DeviceArray<float> dev_x(x, k_guard), dev_dy(dy, k_guard), dev_w(w, k_guard);
    // Two blocks for five rows: the reduction slots are reused, as the trailing barrier allows.
    slm::cuda::rmsnorm_forward({dev_y.get(), dev_x.get(), dev_w.get(), s.t, s.d, 1e-6f, 2}, nullptr);
    slm::cuda::rmsnorm_backward({dev_dx.get(), dev_dy.get(), dev_x.get(), dev_w.get(), s.t, s.d, 1e-6f, false, 2},
                                nullptr);
    const std::vector<float> y = dev_y.download(), dx = dev_dx.download();
    if (first_y.empty()) {
      first_y = y;
      first_dx = dx;
    }
    EXPECT_EQ(std::memcmp(y.data(), first_y.data(), n * sizeof(float)), 0) << "forward, schedule " << static_cast<int>(schedule);
    EXPECT_EQ(std::memcmp(dx.data(), first_dx.data(), n * sizeof(float)), 0) << "backward, schedule " << static_cast<int>(schedule);
  }
}
#endif  // SLM_EMU_TESTS

}  // namespace
