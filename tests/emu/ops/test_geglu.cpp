// test_geglu.cpp — the CUDA GeGLU (kernels/cuda/geglu.h) under the emulation harness against its
// CPU twin (kernels/cpu/layers.h, layers_backward.h): forward and backward on small and odd
// element counts (one element, partial blocks, threads taking several elements by grid-stride),
// the float4 and the scalar path, with guard elements after every output, saturated and huge
// gates, the aliasing the header allows, and the bf16 copies.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device.
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/layers.h"
#include "kernels/cpu/layers_backward.h"
#include "kernels/cuda/geglu.h"
#include "tests/emu/ops/device_buffer.h"

namespace {

using slm::ops_test::DeviceArray;

// With SLM_OPS_VERBOSE set, prints the largest error of a test (silent otherwise).
void report(const char* what, double error) {
  if (std::getenv("SLM_OPS_VERBOSE")) std::printf("%s: max relative error %.3g\n", what, error);
}

const std::int64_t k_counts[] = {1, 5, 13, 40, 100, 257, 3 * 1000 + 1, 20000};
// Every count runs with the launcher's grid and with at most 2 blocks (512 threads), so that
// threads take further elements by grid-stride.
const int k_grid_limits[] = {0, 2};
constexpr float k_fill = 5.0f;  // what outputs and their guards start as

std::vector<float> random_vector(std::size_t n, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  if (n > 4) {  // saturated: gelu(x) = x, and -0 (the exponential overflows)
    v[1] = 30.0f;
    v[2] = -30.0f;
    v[3] = -90.0f;
  }
  return v;
}

// Largest |got - want| / (|want| + floor), the floor 1e-3 of the tensor's mean magnitude or, when
// given, the element's own scale (the size of the terms that cancel in it).
double max_relative_error(const std::vector<float>& got, const std::vector<float>& want,
                          const std::vector<double>& scale = {}) {
  double mean = 0;
  for (const float v : want) mean += std::fabs(v);
  mean /= static_cast<double>(want.size());
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    const double floor = std::max(1e-3 * mean, scale.empty() ? 0.0 : scale[i]) + 1e-30;
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]) / (std::fabs(want[i]) + floor));
  }
  return worst;
}

// v in device memory, `offset` floats past the (256-byte) alignment (offset 0 takes the float4
// path, offset 1 the scalar one), with guard elements (k_fill) before (offset 1) and after the payload.
struct Device : DeviceArray<float> {
  Device(const std::vector<float>& v, int offset) : DeviceArray<float>(v, k_fill, static_cast<std::size_t>(offset)) {}
  float* p() { return get(); }
};

TEST(CudaOpsGeGlu, ForwardMatchesTheCpuTwin) {
  double worst = 0;
  for (const std::int64_t count : k_counts)
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1}) {
        const auto n = static_cast<std::size_t>(count);
        const std::vector<float> gate = random_vector(n, 1, 3.0f), up = random_vector(n, 2, 1.0f);
        std::vector<float> want(n);
        slm::cpu::geglu_forward(want.data(), gate.data(), up.data(), count);
        Device g(gate, offset), u(up, offset), out(std::vector<float>(n, k_fill), offset);
        slm::cuda::geglu_forward({out.p(), g.p(), u.p(), count, grid}, nullptr);
        ASSERT_TRUE(out.guards_intact()) << "count " << count << " grid limit " << grid << " offset " << offset;
        const std::vector<float> got = out.download();
        const double error = max_relative_error(got, want);
        worst = std::max(worst, error);
        EXPECT_LT(error, 1e-5) << "count " << count << " grid limit " << grid << " offset " << offset;
        slm::cuda::geglu_forward({g.p(), g.p(), u.p(), count, grid}, nullptr);  // out aliases gate
        EXPECT_EQ(std::memcmp(g.download().data(), got.data(), n * sizeof(float)), 0) << "in place, count " << count;
        Device g2(gate, offset);
        slm::cuda::geglu_forward({u.p(), g2.p(), u.p(), count, grid}, nullptr);  // out aliases up
        EXPECT_EQ(std::memcmp(u.download().data(), got.data(), n * sizeof(float)), 0) << "over up, count " << count;
        EXPECT_TRUE(g.guards_intact() && u.guards_intact()) << "count " << count;
      }
  report("geglu forward", worst);
}

TEST(CudaOpsGeGlu, BackwardMatchesTheCpuTwin) {
  double worst = 0;
  for (const std::int64_t count : k_counts) {
    const auto n = static_cast<std::size_t>(count);
    const std::vector<float> gate = random_vector(n, 3, 3.0f), up = random_vector(n, 4, 1.0f),
                             dout = random_vector(n, 5, 1.0f);
    std::vector<float> want_dg(n), want_du(n);
    slm::cpu::geglu_backward(want_dg.data(), want_du.data(), dout.data(), gate.data(), up.data(), count);
    // gelu'(gate) = s + slope crosses zero near gate = -0.75, where the two terms cancel: the
    // error of dgate is relative to dout * up * (s + |slope|).
    std::vector<double> scale(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double x = gate[i], z = 0.7978845608028654 * (x + 0.044715 * x * x * x), s = 1 / (1 + std::exp(-2 * z));
      const double slope = 2 * x * s * (1 - s) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x);
      scale[i] = std::fabs(static_cast<double>(dout[i]) * up[i]) * (s + std::fabs(slope));
    }
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1}) {
        Device g(gate, offset), u(up, offset), go(dout, offset), dg(std::vector<float>(n, k_fill), offset),
            du(std::vector<float>(n, k_fill), offset);
        slm::cuda::geglu_backward({dg.p(), du.p(), go.p(), g.p(), u.p(), count, grid}, nullptr);
        ASSERT_TRUE(dg.guards_intact() && du.guards_intact()) << "count " << count << " grid limit " << grid;
        const std::vector<float> got_dg = dg.download(), got_du = du.download();
        const double error = std::max(max_relative_error(got_dg, want_dg, scale), max_relative_error(got_du, want_du));
        worst = std::max(worst, error);
        EXPECT_LT(error, 1e-5) << "count " << count << " grid limit " << grid << " offset " << offset;
        // dgate over gate, dup over up: the trainer's in-place case.
        slm::cuda::geglu_backward({g.p(), u.p(), go.p(), g.p(), u.p(), count, grid}, nullptr);
        EXPECT_EQ(std::memcmp(g.download().data(), got_dg.data(), n * sizeof(float)), 0)
            << "dgate in place, count " << count;
        EXPECT_EQ(std::memcmp(u.download().data(), got_du.data(), n * sizeof(float)), 0) << "dup in place, count " << count;
        // dgate over dout (dup elsewhere).
        Device g2(gate, offset), u2(up, offset), du2(std::vector<float>(n, k_fill), offset);
        slm::cuda::geglu_backward({go.p(), du2.p(), go.p(), g2.p(), u2.p(), count, grid}, nullptr);
        EXPECT_EQ(std::memcmp(go.download().data(), got_dg.data(), n * sizeof(float)), 0)
            << "dgate over dout, count " << count;
        EXPECT_TRUE(g.guards_intact() && u.guards_intact() && go.guards_intact() && du2.guards_intact());
      }
  }
  report("geglu backward", worst);
}

// Huge and saturated gates give the CPU twin's values (x above, -0 below; gelu' 1 and 0), never NaN.
TEST(CudaOpsGeGlu, HugeGatesMatchTheCpuTwinExactly) {
  const std::vector<float> gate = {30.0f, -30.0f, 1e13f, -1e13f, 1e20f, -1e20f,
                                   3e38f, -3e38f, 0.0f,  -0.0f,  6.0f,  -6.0f};
  const auto n = gate.size();
  const auto count = static_cast<std::int64_t>(n);
  const std::vector<float> up(n, 0.5f), dout(n, 0.25f);
  std::vector<float> want(n), want_dg(n), want_du(n);
  slm::cpu::geglu_forward(want.data(), gate.data(), up.data(), count);
  slm::cpu::geglu_backward(want_dg.data(), want_du.data(), dout.data(), gate.data(), up.data(), count);
  for (const int offset : {0, 1}) {
    Device g(gate, offset), u(up, offset), go(dout, offset), out(std::vector<float>(n, k_fill), offset),
        dg(std::vector<float>(n, k_fill), offset), du(std::vector<float>(n, k_fill), offset);
    slm::cuda::geglu_forward({out.p(), g.p(), u.p(), count}, nullptr);
    slm::cuda::geglu_backward({dg.p(), du.p(), go.p(), g.p(), u.p(), count}, nullptr);
    const std::vector<float> got = out.download(), got_dg = dg.download(), got_du = du.download();
    for (std::size_t i = 0; i < 10; ++i) {  // the last two are ordinary values: compared below
      EXPECT_EQ(got[i], want[i]) << "gate " << gate[i];
      EXPECT_EQ(got_dg[i], want_dg[i]) << "gate " << gate[i];
      EXPECT_EQ(got_du[i], want_du[i]) << "gate " << gate[i];
    }
    EXPECT_LT(max_relative_error(got, want), 1e-5);
    EXPECT_LT(max_relative_error(got_dg, want_dg), 1e-5);
    EXPECT_LT(max_relative_error(got_du, want_du), 1e-5);
    EXPECT_TRUE(out.guards_intact() && dg.guards_intact() && du.guards_intact());
  }
}

// The bf16 copies are the fp32 results rounded to nearest even, with or without the fp32 outputs.
TEST(CudaOpsGeGlu, Bf16OutputsAreTheFp32OutputsRounded) {
  for (const std::int64_t count : {std::int64_t{7}, std::int64_t{1001}})
    for (const int offset : {0, 1}) {
      const auto n = static_cast<std::size_t>(count);
      const std::vector<float> gate = random_vector(n, 21, 3.0f), up = random_vector(n, 22, 1.0f),
                               dout = random_vector(n, 23, 1.0f);
      Device g(gate, offset), u(up, offset), go(dout, offset), out(std::vector<float>(n), offset),
          dg(std::vector<float>(n), offset), du(std::vector<float>(n), offset);
      const __nv_bfloat16 guard = slm::ops_test::to_bf16(k_fill);
      DeviceArray<__nv_bfloat16> dev_y16(n, guard), dev_y16_alone(n, guard), dev_dg16(n, guard), dev_du16(n, guard),
          dev_dg16_alone(n, guard), dev_du16_alone(n, guard);
      slm::cuda::GeGluParams f{out.p(), g.p(), u.p(), count};
      f.out_bf16 = dev_y16.get();
      slm::cuda::geglu_forward(f, nullptr);
      f.out = nullptr;
      f.out_bf16 = dev_y16_alone.get();
      slm::cuda::geglu_forward(f, nullptr);
      slm::cuda::GeGluBackwardParams b{dg.p(), du.p(), go.p(), g.p(), u.p(), count};
      b.dgate_bf16 = dev_dg16.get();
      b.dup_bf16 = dev_du16.get();
      slm::cuda::geglu_backward(b, nullptr);
      b.dgate = b.dup = nullptr;
      b.dgate_bf16 = dev_dg16_alone.get();
      b.dup_bf16 = dev_du16_alone.get();
      slm::cuda::geglu_backward(b, nullptr);
      for (const auto* buffer : {&dev_y16, &dev_y16_alone, &dev_dg16, &dev_du16, &dev_dg16_alone, &dev_du16_alone})
        ASSERT_TRUE(buffer->guards_intact()) << "count " << count << " offset " << offset;
      const std::vector<float> y = out.download(), dgate = dg.download(), dup = du.download();
      std::vector<std::uint16_t> y16, y16_alone, dg16, du16, dg16_alone, du16_alone;
      for (auto [bits, buffer] : {std::pair{&y16, &dev_y16}, std::pair{&y16_alone, &dev_y16_alone},
                                  std::pair{&dg16, &dev_dg16}, std::pair{&du16, &dev_du16},
                                  std::pair{&dg16_alone, &dev_dg16_alone}, std::pair{&du16_alone, &dev_du16_alone}})
        for (const __nv_bfloat16 v : buffer->download()) bits->push_back(slm::ops_test::bits_of(v));
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_EQ(y16[i], slm::fp32_to_bf16(y[i])) << "count " << count << " element " << i;
        ASSERT_EQ(y16_alone[i], y16[i]) << "count " << count << " element " << i;
        ASSERT_EQ(dg16[i], slm::fp32_to_bf16(dgate[i])) << "count " << count << " element " << i;
        ASSERT_EQ(du16[i], slm::fp32_to_bf16(dup[i])) << "count " << count << " element " << i;
        ASSERT_EQ(dg16_alone[i], dg16[i]) << "count " << count << " element " << i;
        ASSERT_EQ(du16_alone[i], du16[i]) << "count " << count << " element " << i;
      }
    }
}

}  // namespace
