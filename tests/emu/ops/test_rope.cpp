// test_rope.cpp — the CUDA RoPE (kernels/cuda/rope.h) under the emulation harness: the cos/sin
// tables from per-token positions (packed documents restarting at 0) against the trainer's host
// formula, and the rotation forward and backward against the CPU twin (kernels/cpu/layers.h,
// layers_backward.h) on small and odd shapes (odd E leaves its last element alone), with guard
// elements after every array.
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
#include "kernels/cuda/rope.h"
#include "tests/emu/ops/device_buffer.h"

namespace {

using slm::ops_test::DeviceArray;
constexpr float k_guard = 9.0f;

// With SLM_OPS_VERBOSE set, prints the largest error of a test (silent otherwise).
void report(const char* what, double error) {
  if (std::getenv("SLM_OPS_VERBOSE")) std::printf("%s: max error %.3g\n", what, error);
}

struct Shape {
  std::int64_t t, n, e;
};
const Shape k_shapes[] = {{1, 1, 2}, {3, 2, 64}, {5, 3, 40}, {7, 1, 100}, {4, 5, 7}, {13, 4, 128}, {2, 3, 0}};
// Every shape runs with the launcher's grid and with one block of 8 warps, so that warps take
// further rows by grid-stride (a warp per row; E/2 > 32 makes lanes take several pairs too).
const int k_grid_limits[] = {0, 1};

std::vector<float> inv_freq_for(std::int64_t half, double theta) {
  std::vector<float> inv(static_cast<std::size_t>(half));
  for (std::int64_t i = 0; i < half; ++i)
    inv[i] = static_cast<float>(1.0 / std::pow(theta, 2.0 * static_cast<double>(i) / (2.0 * half)));
  return inv;
}

// Positions of three packed documents of lengths 5, 3 and the rest, then one far position.
std::vector<std::int32_t> packed_positions(std::int64_t t) {
  std::vector<std::int32_t> pos;
  for (const int len : {5, 3, 1 << 20})
    for (int i = 0; i < len && static_cast<std::int64_t>(pos.size()) < t; ++i) pos.push_back(i);
  if (t > 1) pos.back() = 8191;
  return pos;
}

// Cos/sin tables as the trainer builds them on the host (train/model/llama_train.cpp).
void host_tables(const std::vector<std::int32_t>& pos, const std::vector<float>& inv, std::vector<float>& c,
                 std::vector<float>& s) {
  const std::size_t half = inv.size();
  c.assign(pos.size() * half, 0.0f);
  s.assign(pos.size() * half, 0.0f);
  for (std::size_t i = 0; i < pos.size(); ++i)
    for (std::size_t j = 0; j < half; ++j) {
      const float angle = static_cast<float>(pos[i]) * inv[j];
      c[i * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      s[i * half + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
}

TEST(CudaOpsRope, TablesFromPackedPositionsMatchTheHostFormula) {
  double worst = 0;
  for (const Shape sh : k_shapes) {
    const std::int64_t half = sh.e / 2;
    const std::vector<std::int32_t> pos = packed_positions(sh.t);
    const std::vector<float> inv = inv_freq_for(half, 10000.0);
    std::vector<float> want_c, want_s;
    host_tables(pos, inv, want_c, want_s);
    const DeviceArray<std::int32_t> dev_pos(pos, -1);
    const DeviceArray<float> dev_inv(inv, k_guard);
    for (const int grid : k_grid_limits) {
      DeviceArray<float> dev_c(want_c.size(), k_guard), dev_s(want_s.size(), k_guard);
      slm::cuda::rope_tables({dev_c.get(), dev_s.get(), dev_pos.get(), dev_inv.get(), sh.t, half, grid}, nullptr);
      ASSERT_TRUE(dev_c.guards_intact() && dev_s.guards_intact()) << "T " << sh.t << " E " << sh.e << " grid limit " << grid;
      const std::vector<float> c = dev_c.download(), s = dev_s.download();
      for (std::size_t i = 0; i < c.size(); ++i) {
        // float64 cos/sin rounded to fp32: equal bits here; a GPU's float64 may differ by one ulp.
        const double error = std::max(std::fabs(c[i] - want_c[i]), std::fabs(s[i] - want_s[i]));
        worst = std::max(worst, error);
        ASSERT_LE(error, 1.2e-7) << "T " << sh.t << " E " << sh.e << " grid limit " << grid << " element " << i;
      }
    }
  }
  report("rope tables (absolute)", worst);
}

// Largest |got - want| / (|want| + mean |want| of the head's row).
double max_relative_error(const std::vector<float>& got, const std::vector<float>& want, std::int64_t e) {
  double worst = 0;
  for (std::size_t row = 0; e > 0 && row * e < want.size(); ++row) {
    double mean = 0;
    for (std::int64_t j = 0; j < e; ++j) mean += std::fabs(want[row * e + j]);
    mean /= static_cast<double>(e);
    for (std::int64_t j = 0; j < e; ++j) {
      const std::size_t i = row * e + j;
      if (!std::isfinite(got[i])) return INFINITY;
      worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]) / (std::fabs(want[i]) + mean + 1e-30));
    }
  }
  return worst;
}

TEST(CudaOpsRope, ForwardAndBackwardMatchTheCpuTwin) {
  double worst_forward = 0, worst_backward = 0;
  for (const Shape sh : k_shapes) {
    const std::int64_t half = sh.e / 2;
    std::vector<float> c, s;
    host_tables(packed_positions(sh.t), inv_freq_for(half, 500000.0), c, s);
    std::mt19937 rng(static_cast<unsigned>(sh.t * 131 + sh.e));
    std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
    std::vector<float> x(static_cast<std::size_t>(sh.t * sh.n * sh.e));
    for (float& v : x) v = uniform(rng);
    const DeviceArray<float> dev_c(c, k_guard), dev_s(s, k_guard);
    for (const int grid : k_grid_limits)
      for (const bool backward : {false, true}) {
        std::vector<float> want = x;
        DeviceArray<float> dev_x(x, k_guard);
        if (backward) {
          slm::cpu::rope_backward(want.data(), c.data(), s.data(), sh.t, sh.n, sh.e);
          slm::cuda::rope_backward({dev_x.get(), dev_c.get(), dev_s.get(), sh.t, sh.n, sh.e, grid}, nullptr);
        } else {
          slm::cpu::rope_forward(want.data(), c.data(), s.data(), sh.t, sh.n, sh.e);
          slm::cuda::rope_forward({dev_x.get(), dev_c.get(), dev_s.get(), sh.t, sh.n, sh.e, grid}, nullptr);
        }
        EXPECT_TRUE(dev_x.guards_intact()) << (backward ? "backward" : "forward") << " T " << sh.t << " n " << sh.n
                                           << " E " << sh.e << " grid limit " << grid;
        const std::vector<float> got = dev_x.download();
        const double error = max_relative_error(got, want, sh.e);
        (backward ? worst_backward : worst_forward) = std::max(backward ? worst_backward : worst_forward, error);
        EXPECT_LT(error, 1e-5) << (backward ? "backward" : "forward") << " T " << sh.t << " n " << sh.n << " E " << sh.e
                               << " grid limit " << grid;
        if (sh.e % 2 == 1) {  // the odd element stays as it was
          for (std::int64_t row = 0; row < sh.t * sh.n; ++row)
            EXPECT_EQ(got[row * sh.e + sh.e - 1], x[row * sh.e + sh.e - 1]) << "row " << row;
        }
      }
  }
  report("rope forward (relative)", worst_forward);
  report("rope backward (relative)", worst_backward);
}

// The bf16 copy is the rotated fp32 x rounded to nearest even, an odd E's last element included.
TEST(CudaOpsRope, Bf16CopyIsTheRotatedXRounded) {
  for (const Shape sh : k_shapes)
    for (const bool backward : {false, true}) {
      std::vector<float> c, s;
      host_tables(packed_positions(sh.t), inv_freq_for(sh.e / 2, 10000.0), c, s);
      std::vector<float> x(static_cast<std::size_t>(sh.t * sh.n * sh.e));
      std::mt19937 rng(5);
      std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
      for (float& v : x) v = uniform(rng);
      const __nv_bfloat16 guard16 = slm::ops_test::to_bf16(k_guard);
      DeviceArray<float> dev_x(x, k_guard);
      const DeviceArray<float> dev_c(c, k_guard), dev_s(s, k_guard);
      DeviceArray<__nv_bfloat16> dev_x16(x.size(), guard16);
      slm::cuda::RopeParams p{dev_x.get(), dev_c.get(), dev_s.get(), sh.t, sh.n, sh.e};
      p.x_bf16 = dev_x16.get();
      backward ? slm::cuda::rope_backward(p, nullptr) : slm::cuda::rope_forward(p, nullptr);
      ASSERT_TRUE(dev_x.guards_intact() && dev_x16.guards_intact()) << "T " << sh.t << " n " << sh.n << " E " << sh.e;
      x = dev_x.download();
      const std::vector<__nv_bfloat16> x16 = dev_x16.download();
      for (std::size_t i = 0; i < x.size(); ++i)
        ASSERT_EQ(slm::ops_test::bits_of(x16[i]), slm::fp32_to_bf16(x[i]))
            << "T " << sh.t << " n " << sh.n << " E " << sh.e << " element " << i;
    }
}

}  // namespace
