// test_gated_activation.cpp — the CUDA gated MLP activations, SwiGLU (kernels/cuda/swiglu.h) and
// GeGLU (kernels/cuda/geglu.h, one implementation in kernels/cuda/gated_activation.cuh), under the
// emulation harness against their CPU twins (kernels/cpu/layers.h, layers_backward.h): one typed
// test over both (a traits struct per activation names its CPU and CUDA functions and the scale of
// its dgate's cancellation) runs forward and backward on small and odd element counts (one
// element, partial blocks, threads taking several elements by grid-stride), the float4 and the
// scalar path, with saturated gates, every aliasing the headers allow, guard elements around every
// array, and the bf16 copies; GeGLU's huge gates are a test of their own.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device.
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/layers.h"
#include "kernels/cpu/layers_backward.h"
#include "kernels/cuda/geglu.h"
#include "kernels/cuda/swiglu.h"
#include "tests/emu/ops/device_buffer.h"

namespace {

using slm::ops_test::DeviceArray;

// --- the activations ------------------------------------------------------------------------------
// Each names its CPU twins, its CUDA functions (the argument structs are SwiGLU's for both), and
// scale(gate, up, dout): the size of the terms that cancel in dgate, what its error is relative to.

struct SwiGlu {
  static constexpr const char* name = "SwiGlu";
  using Params = slm::cuda::SwiGluParams;
  using BackwardParams = slm::cuda::SwiGluBackwardParams;
  static void cpu_forward(float* out, const float* gate, const float* up, std::int64_t count) {
    slm::cpu::swiglu_forward(out, gate, up, count);
  }
  static void cpu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                           std::int64_t count) {
    slm::cpu::swiglu_backward(dgate, dup, dout, gate, up, count);
  }
  static void cuda_forward(const Params& p) { slm::cuda::swiglu_forward(p, nullptr); }
  static void cuda_backward(const BackwardParams& p) { slm::cuda::swiglu_backward(p, nullptr); }
  // dgate = dout * up * sig * (1 + gate * (1 - sig)) crosses zero near gate = -1.278, where the
  // sum cancels: its error is relative to dout * up * sig * (1 + |gate * (1 - sig)|). (The CPU
  // twin itself is 5e-4 off float64 there by the plain |want| measure.)
  static double scale(float gate, float up, float dout) {
    const double sig = 1.0 / (1.0 + std::exp(-static_cast<double>(gate)));
    return std::fabs(static_cast<double>(dout) * up * sig) * (1.0 + std::fabs(gate * (1.0 - sig)));
  }
};

struct GeGlu {
  static constexpr const char* name = "GeGlu";
  using Params = slm::cuda::GeGluParams;
  using BackwardParams = slm::cuda::GeGluBackwardParams;
  static void cpu_forward(float* out, const float* gate, const float* up, std::int64_t count) {
    slm::cpu::geglu_forward(out, gate, up, count);
  }
  static void cpu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                           std::int64_t count) {
    slm::cpu::geglu_backward(dgate, dup, dout, gate, up, count);
  }
  static void cuda_forward(const Params& p) { slm::cuda::geglu_forward(p, nullptr); }
  static void cuda_backward(const BackwardParams& p) { slm::cuda::geglu_backward(p, nullptr); }
  // gelu'(gate) = s + slope crosses zero near gate = -0.75, where the two terms cancel: the
  // error of dgate is relative to dout * up * (s + |slope|).
  static double scale(float gate, float up, float dout) {
    const double x = gate, z = 0.7978845608028654 * (x + 0.044715 * x * x * x), s = 1 / (1 + std::exp(-2 * z));
    const double slope = 2 * x * s * (1 - s) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x);
    return std::fabs(static_cast<double>(dout) * up) * (s + std::fabs(slope));
  }
};

// --- shared helpers ----------------------------------------------------------------------------------

// With SLM_OPS_VERBOSE set, prints the largest error of a test (silent otherwise).
void report(const std::string& what, double error) {
  if (std::getenv("SLM_OPS_VERBOSE")) std::printf("%s: max relative error %.3g\n", what.c_str(), error);
}

// One element, partial blocks and float4 chunks with scalar tails of every length, many blocks.
const std::int64_t k_counts[] = {1, 5, 7, 13, 40, 100, 257, 3 * 1000 + 1, 20000};
// Every count runs with the launcher's grid and with at most 2 blocks (512 threads), so that
// threads take further elements by grid-stride.
const int k_grid_limits[] = {0, 2};
constexpr float k_fill = 5.0f;     // what the outputs start as
constexpr float k_guard = -777.0f;  // what the guard elements around every array hold

std::vector<float> random_vector(std::size_t n, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  if (n > 4) {  // saturated: sigmoid 1 and 0, gelu(x) = x and -0 (the exponential overflows)
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

// A copy of v in device memory, starting `offset` floats past the (256-byte) alignment: offset 0
// takes the float4 path, offset 1 the scalar one. Guard elements before (offset 1) and after it
// hold k_guard.
struct Device : DeviceArray<float> {
  Device(const std::vector<float>& v, int offset) : DeviceArray<float>(v, k_guard, static_cast<std::size_t>(offset)) {}
  float* p() { return get(); }
};

// --- the checks both activations share ---------------------------------------------------------------

template <class Act>
class CudaOpsGatedActivation : public ::testing::Test {};

struct ActivationName {
  template <class Act>
  static std::string GetName(int) {
    return Act::name;
  }
};

using Activations = ::testing::Types<SwiGlu, GeGlu>;
TYPED_TEST_SUITE(CudaOpsGatedActivation, Activations, ActivationName);

TYPED_TEST(CudaOpsGatedActivation, ForwardMatchesTheCpuTwin) {
  using Act = TypeParam;
  double worst = 0;
  for (const std::int64_t count : k_counts)
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1}) {
        const auto n = static_cast<std::size_t>(count);
        const std::vector<float> gate = random_vector(n, 1, 3.0f), up = random_vector(n, 2, 1.0f);
        std::vector<float> want(n);
        Act::cpu_forward(want.data(), gate.data(), up.data(), count);
        Device g(gate, offset), u(up, offset), out(std::vector<float>(n, k_fill), offset);
        Act::cuda_forward({out.p(), g.p(), u.p(), count, grid});
        ASSERT_TRUE(out.guards_intact()) << "count " << count << " grid limit " << grid << " offset " << offset;
        const std::vector<float> got = out.download();
        const double error = max_relative_error(got, want);
        worst = std::max(worst, error);
        EXPECT_LT(error, 1e-5) << "count " << count << " grid limit " << grid << " offset " << offset;
        Act::cuda_forward({g.p(), g.p(), u.p(), count, grid});  // out aliases gate
        EXPECT_EQ(std::memcmp(g.download().data(), got.data(), n * sizeof(float)), 0) << "in place, count " << count;
        Device g2(gate, offset);
        Act::cuda_forward({u.p(), g2.p(), u.p(), count, grid});  // out aliases up
        EXPECT_EQ(std::memcmp(u.download().data(), got.data(), n * sizeof(float)), 0) << "over up, count " << count;
        EXPECT_TRUE(out.guards_intact() && g.guards_intact() && u.guards_intact() && g2.guards_intact())
            << "count " << count << " grid limit " << grid << " offset " << offset;
      }
  report(std::string(Act::name) + " forward", worst);
}

TYPED_TEST(CudaOpsGatedActivation, BackwardMatchesTheCpuTwin) {
  using Act = TypeParam;
  double worst = 0;
  for (const std::int64_t count : k_counts) {
    const auto n = static_cast<std::size_t>(count);
    const std::vector<float> gate = random_vector(n, 3, 3.0f), up = random_vector(n, 4, 1.0f),
                             dout = random_vector(n, 5, 1.0f);
    std::vector<float> want_dg(n), want_du(n);
    Act::cpu_backward(want_dg.data(), want_du.data(), dout.data(), gate.data(), up.data(), count);
    std::vector<double> scale(n);
    for (std::size_t i = 0; i < n; ++i) scale[i] = Act::scale(gate[i], up[i], dout[i]);
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1}) {
        Device g(gate, offset), u(up, offset), go(dout, offset), dg(std::vector<float>(n, k_fill), offset),
            du(std::vector<float>(n, k_fill), offset);
        Act::cuda_backward({dg.p(), du.p(), go.p(), g.p(), u.p(), count, grid});
        ASSERT_TRUE(dg.guards_intact() && du.guards_intact())
            << "count " << count << " grid limit " << grid << " offset " << offset;
        const std::vector<float> got_dg = dg.download(), got_du = du.download();
        const double error = std::max(max_relative_error(got_dg, want_dg, scale), max_relative_error(got_du, want_du));
        worst = std::max(worst, error);
        EXPECT_LT(error, 1e-5) << "count " << count << " grid limit " << grid << " offset " << offset;
        // dgate over gate, dup over up: the trainer's in-place case.
        Act::cuda_backward({g.p(), u.p(), go.p(), g.p(), u.p(), count, grid});
        EXPECT_EQ(std::memcmp(g.download().data(), got_dg.data(), n * sizeof(float)), 0)
            << "dgate in place, count " << count;
        EXPECT_EQ(std::memcmp(u.download().data(), got_du.data(), n * sizeof(float)), 0) << "dup in place, count " << count;
        // dgate over dout (dup elsewhere).
        Device g2(gate, offset), u2(up, offset), du2(std::vector<float>(n, k_fill), offset);
        Act::cuda_backward({go.p(), du2.p(), go.p(), g2.p(), u2.p(), count, grid});
        EXPECT_EQ(std::memcmp(go.download().data(), got_dg.data(), n * sizeof(float)), 0)
            << "dgate over dout, count " << count;
        EXPECT_TRUE(dg.guards_intact() && du.guards_intact() && g.guards_intact() && u.guards_intact() &&
                    go.guards_intact() && g2.guards_intact() && u2.guards_intact() && du2.guards_intact())
            << "count " << count << " grid limit " << grid << " offset " << offset;
      }
  }
  report(std::string(Act::name) + " backward", worst);
}

// The bf16 copies are the fp32 results rounded to nearest even, with or without the fp32 outputs.
TYPED_TEST(CudaOpsGatedActivation, Bf16OutputsAreTheFp32OutputsRounded) {
  using Act = TypeParam;
  for (const std::int64_t count : {std::int64_t{7}, std::int64_t{1001}})
    for (const int offset : {0, 1}) {
      const auto n = static_cast<std::size_t>(count);
      const std::vector<float> gate = random_vector(n, 21, 3.0f), up = random_vector(n, 22, 1.0f),
                               dout = random_vector(n, 23, 1.0f);
      Device g(gate, offset), u(up, offset), go(dout, offset), out(std::vector<float>(n), offset),
          dg(std::vector<float>(n), offset), du(std::vector<float>(n), offset);
      const __nv_bfloat16 guard16 = slm::ops_test::to_bf16(k_guard);
      DeviceArray<__nv_bfloat16> dev_y16(n, guard16), dev_y16_alone(n, guard16), dev_dg16(n, guard16),
          dev_du16(n, guard16), dev_dg16_alone(n, guard16), dev_du16_alone(n, guard16);
      typename Act::Params f{out.p(), g.p(), u.p(), count};
      f.out_bf16 = dev_y16.get();
      Act::cuda_forward(f);
      f.out = nullptr;
      f.out_bf16 = dev_y16_alone.get();
      Act::cuda_forward(f);
      typename Act::BackwardParams b{dg.p(), du.p(), go.p(), g.p(), u.p(), count};
      b.dgate_bf16 = dev_dg16.get();
      b.dup_bf16 = dev_du16.get();
      Act::cuda_backward(b);
      b.dgate = b.dup = nullptr;
      b.dgate_bf16 = dev_dg16_alone.get();
      b.dup_bf16 = dev_du16_alone.get();
      Act::cuda_backward(b);
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

// --- GeGLU only ----------------------------------------------------------------------------------

// Huge and saturated gates give the CPU twin's values (x above, -0 below; gelu' 1 and 0), never NaN.
TEST(CudaOpsGeGlu, HugeGatesMatchTheCpuTwinExactly) {
  using Act = GeGlu;
  const std::vector<float> gate = {30.0f, -30.0f, 1e13f, -1e13f, 1e20f, -1e20f,
                                   3e38f, -3e38f, 0.0f,  -0.0f,  6.0f,  -6.0f};
  const auto n = gate.size();
  const auto count = static_cast<std::int64_t>(n);
  const std::vector<float> up(n, 0.5f), dout(n, 0.25f);
  std::vector<float> want(n), want_dg(n), want_du(n);
  Act::cpu_forward(want.data(), gate.data(), up.data(), count);
  Act::cpu_backward(want_dg.data(), want_du.data(), dout.data(), gate.data(), up.data(), count);
  for (const int offset : {0, 1}) {
    Device g(gate, offset), u(up, offset), go(dout, offset), out(std::vector<float>(n, k_fill), offset),
        dg(std::vector<float>(n, k_fill), offset), du(std::vector<float>(n, k_fill), offset);
    Act::cuda_forward({out.p(), g.p(), u.p(), count});
    Act::cuda_backward({dg.p(), du.p(), go.p(), g.p(), u.p(), count});
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

}  // namespace
