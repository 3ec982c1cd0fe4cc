// test_grad_norm.cpp — the CUDA gradient norm (kernels/cuda/grad_norm.h) under the emulation
// harness against its CPU twin (kernels/cpu/grad_norm.h) and a float64 sum: n = 0, 1, 1000,
// 100003 and one size past the kernel's block cap (so blocks take several chunks), identical
// bits under every schedule, and the in-place scale.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device, without the
// schedule comparison (harness only).
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/grad_norm.h"
#include "kernels/cuda/grad_norm.h"
#include "tests/emu/ops/device_buffer.h"
#if SLM_EMU_TESTS
#include "tests/emu/emu_test_util.h"
#endif

namespace {

using slm::ops_test::DeviceArray;

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1e-3f);  // gradient-sized values
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

double gpu_norm_squared(const std::vector<float>& g) {
  DeviceArray<double> workspace(slm::cuda::grad_norm_workspace_doubles(), -1.0), out(1, -1.0);
  const DeviceArray<float> dg(g, 0.0f);
  slm::cuda::grad_norm_squared({out.get(), dg.get(), static_cast<std::int64_t>(g.size()), workspace.get()}, nullptr);
  return out.at(0);
}

void report(const char* what, double error) {
  if (std::getenv("SLM_OPS_VERBOSE")) std::printf("%s: max relative error %.3g\n", what, error);
}

TEST(CudaOpsGradNorm, MatchesTheCpuTwinAndFloat64) {
  double worst_cpu = 0, worst_f64 = 0;
  // 4096 * 1024 + 5 floats: more chunks than the kernel's 1024 blocks.
  for (const std::int64_t n : {std::int64_t{1}, std::int64_t{1000}, std::int64_t{4096}, std::int64_t{100003},
                               std::int64_t{4096} * 1024 + 5}) {
    const std::vector<float> g = random_vector(static_cast<std::size_t>(n), static_cast<unsigned>(n));
    double exact = 0;
    for (const float v : g) exact += static_cast<double>(v) * v;
    const double cpu = slm::cpu::grad_norm_squared(g.data(), n);
    const double got = gpu_norm_squared(g);
    ASSERT_TRUE(std::isfinite(got)) << "n " << n;
    const double vs_cpu = std::fabs(got - cpu) / cpu, vs_f64 = std::fabs(got - exact) / exact;
    worst_cpu = std::max(worst_cpu, vs_cpu);
    worst_f64 = std::max(worst_f64, vs_f64);
    EXPECT_LT(vs_cpu, 1e-6) << "n " << n;
    EXPECT_LT(vs_f64, 1e-6) << "n " << n;
  }
  report("grad norm squared vs the CPU twin", worst_cpu);
  report("grad norm squared vs float64", worst_f64);
}

TEST(CudaOpsGradNorm, EmptyArrayGivesZero) {
  const std::vector<float> g;
  EXPECT_EQ(gpu_norm_squared(g), 0.0);
}

#if SLM_EMU_TESTS
TEST(CudaOpsGradNorm, IdenticalBitsUnderEverySchedule) {
  using slm::emu::Schedule;
  using slm::emu::testing::ScopedSchedule;
  const std::vector<float> g = random_vector(100003, 11);
  double first = 0;
  bool have_first = false;
  for (const auto& [schedule, seed] : {std::pair{Schedule::forward, 1}, std::pair{Schedule::reverse, 1},
                                      std::pair{Schedule::shuffled, 3}, std::pair{Schedule::shuffled, 99}}) {
    ScopedSchedule scoped(schedule, static_cast<std::uint64_t>(seed));
    const double got = gpu_norm_squared(g);
    if (!have_first) {
      first = got;
      have_first = true;
    }
    EXPECT_EQ(std::memcmp(&got, &first, sizeof got), 0) << "schedule " << static_cast<int>(schedule);
  }
}
#endif  // SLM_EMU_TESTS

TEST(CudaOpsGradNorm, ScaleInPlaceMatchesTheCpuTwin) {
  for (const std::int64_t n : {std::int64_t{1}, std::int64_t{1000}, std::int64_t{100003}}) {
    std::vector<float> want = random_vector(static_cast<std::size_t>(n), 5);
    DeviceArray<float> dg(want, -3.0f);
    slm::cpu::scale_inplace(want.data(), n, 0.37f);
    slm::cuda::scale_inplace(dg.get(), n, 0.37f, nullptr);
    const std::vector<float> got = dg.download();
    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0) << "n " << n;
    EXPECT_TRUE(dg.guards_intact()) << "n " << n;
  }
  DeviceArray<float> untouched(4, 2.0f);
  slm::cuda::scale_inplace(untouched.get(), 0, 0.5f, nullptr);
  EXPECT_EQ(untouched.at(0), 2.0f);
}

}  // namespace
