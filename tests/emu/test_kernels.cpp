// test_kernels.cpp — kernels/cuda run under the harness against their references: AdamW against
// the CPU twin (kernels/cpu/adamw.h), the tensor-core GEMMs (nt and nn) against float64 on small
// and odd shapes with both tile shapes and both load paths, and under forward, reverse and
// shuffled schedules (identical bits, as a race-free kernel must give).
// Does not hold: layout tables (test_layouts.cpp), planted bugs (test_faults.cpp).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/adamw.h"
#include "kernels/cuda/adamw.h"
#include "kernels/cuda/gemm_mma.h"
#include "tests/emu/emu_test_util.h"

namespace {

using slm::emu::Schedule;
using slm::emu::testing::ScopedSchedule;

// 16-byte aligned float storage, as the CUDA arenas are.
struct Floats {
  explicit Floats(std::size_t n) : data(n + 4) {}
  float* get() {
    auto p = reinterpret_cast<std::uintptr_t>(data.data());
    return reinterpret_cast<float*>((p + 15) / 16 * 16);
  }
  std::vector<float> data;
};

TEST(EmuKernels, AdamWMatchesTheCpuTwin) {
  for (const std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{1027}, std::size_t{70001}}) {
    std::mt19937 rng(17);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Floats p_gpu(n), g(n), m_gpu(n), v_gpu(n);
    std::vector<float> p_cpu(n), m_cpu(n, 0.0f), v_cpu(n, 0.0f);
    for (std::size_t i = 0; i < n; ++i) {
      p_gpu.get()[i] = p_cpu[i] = normal(rng);
      m_gpu.get()[i] = v_gpu.get()[i] = 0.0f;
    }
    slm::AdamWParams params;
    params.lr = 1e-2f;
    params.weight_decay = 0.1f;
    params.grad_scale = 0.5f;
    for (int step = 1; step <= 3; ++step) {
      for (std::size_t i = 0; i < n; ++i) g.get()[i] = normal(rng);
      params.step = step;
      slm::cuda::adamw_step(params, p_gpu.get(), g.get(), m_gpu.get(), v_gpu.get(), n, nullptr);
      slm::cpu::adamw_step(params, p_cpu.data(), g.get(), m_cpu.data(), v_cpu.data(), n);
    }
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_NEAR(p_gpu.get()[i], p_cpu[i], 1e-6f * (1.0f + std::fabs(p_cpu[i]))) << "n " << n << " param " << i;
      ASSERT_NEAR(m_gpu.get()[i], m_cpu[i], 1e-6f * (1.0f + std::fabs(m_cpu[i]))) << "n " << n << " m " << i;
      ASSERT_NEAR(v_gpu.get()[i], v_cpu[i], 1e-6f * (1.0f + std::fabs(v_cpu[i]))) << "n " << n << " v " << i;
    }
  }
}

struct GemmCase {
  int m, n, k;
  int pad;  // extra leading-dimension elements
};

struct GemmRun {
  std::vector<float> out;
  double max_error = 0;  // relative to sum_k |a w|
};

// Runs out = a * b^T (b [N, K]) or, with nn, out = a * b (b [K, N]) for one shape and compares
// with float64 on the bf16-rounded inputs.
GemmRun run_gemm(const GemmCase& c, slm::cuda::GemmTile tile, unsigned seed, bool nn = false) {
  const int lda = c.k + c.pad, ldb = (nn ? c.n : c.k) + c.pad, ldo = c.n + 3;
  const int b_rows = nn ? c.k : c.n;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  // Over-aligned storage so the 16-byte path is taken whenever the leading dimensions allow.
  std::vector<__nv_bfloat16> a_store(static_cast<std::size_t>(c.m) * lda + 16), b_store(static_cast<std::size_t>(b_rows) * ldb + 16);
  auto align16 = [](__nv_bfloat16* p) {
    return reinterpret_cast<__nv_bfloat16*>((reinterpret_cast<std::uintptr_t>(p) + 15) / 16 * 16);
  };
  __nv_bfloat16* a = align16(a_store.data());
  __nv_bfloat16* b = align16(b_store.data());
  for (std::size_t i = 0; i < static_cast<std::size_t>(c.m) * lda; ++i) a[i] = __nv_bfloat16(uniform(rng));
  for (std::size_t i = 0; i < static_cast<std::size_t>(b_rows) * ldb; ++i) b[i] = __nv_bfloat16(uniform(rng));
  GemmRun run;
  run.out.assign(static_cast<std::size_t>(std::max(c.m, 1)) * ldo, 12345.0f);
  slm::cuda::GemmParams p{a, b, run.out.data(), c.m, c.n, c.k, lda, ldb, ldo};
  nn ? slm::cuda::gemm_bf16_nn(p, tile, nullptr) : slm::cuda::gemm_bf16_nt(p, tile, nullptr);
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.n; ++j) {
      double exact = 0, magnitude = 0;
      for (int k = 0; k < c.k; ++k) {
        const float bk = nn ? static_cast<float>(b[k * ldb + j]) : static_cast<float>(b[j * ldb + k]);
        const double term = static_cast<double>(static_cast<float>(a[i * lda + k])) * bk;
        exact += term;
        magnitude += std::fabs(term);
      }
      const double got = run.out[static_cast<std::size_t>(i) * ldo + j];
      EXPECT_TRUE(std::isfinite(got)) << "out[" << i << "][" << j << "]";
      run.max_error = std::max(run.max_error, std::fabs(got - exact) / (magnitude + 1e-30));
    }
    for (int j = c.n; j < ldo; ++j) EXPECT_EQ(run.out[static_cast<std::size_t>(i) * ldo + j], 12345.0f) << "guard written";
  }
  return run;
}

const GemmCase k_shapes[] = {
    {1, 1, 1, 0},    {5, 7, 13, 0},   {16, 8, 16, 0},  {13, 5, 8, 0},   {33, 17, 40, 0},
    {64, 64, 64, 0}, {70, 45, 24, 8}, {31, 66, 57, 3}, {100, 9, 96, 0}, {3, 130, 200, 0},
};

TEST(EmuKernels, GemmMatchesFloat64OnSmallAndOddShapes) {
  for (const bool nn : {false, true})
    for (const auto tile : {slm::cuda::GemmTile::small, slm::cuda::GemmTile::large}) {
      for (const GemmCase& c : k_shapes) {
        const GemmRun run = run_gemm(c, tile, 7, nn);
        // fp32 accumulation across mma steps: a few ulps of fp32 relative to sum |a b|.
        EXPECT_LT(run.max_error, 1e-6) << (nn ? "nn" : "nt") << " M " << c.m << " N " << c.n << " K " << c.k
                                       << " pad " << c.pad
                                       << (tile == slm::cuda::GemmTile::small ? " small" : " large") << " tile";
      }
    }
}

TEST(EmuKernels, GemmGivesIdenticalBitsUnderEverySchedule) {
  struct Order {
    Schedule schedule;
    std::uint64_t seed;
  };
  for (const bool nn : {false, true})
    for (const GemmCase& c : {GemmCase{33, 17, 40, 0}, GemmCase{31, 66, 57, 3}}) {
      std::vector<float> first;
      for (const Order order : {Order{Schedule::forward, 1}, Order{Schedule::reverse, 1},
                                Order{Schedule::shuffled, 1}, Order{Schedule::shuffled, 12345}}) {
        ScopedSchedule s(order.schedule, order.seed);
        const std::vector<float> out = run_gemm(c, slm::cuda::GemmTile::large, 3, nn).out;
        if (first.empty()) first = out;
        ASSERT_EQ(out.size(), first.size());
        EXPECT_EQ(std::memcmp(out.data(), first.data(), out.size() * sizeof(float)), 0)
            << (nn ? "nn" : "nt") << " M " << c.m << " N " << c.n << " K " << c.k << " schedule "
            << static_cast<int>(order.schedule) << " seed " << order.seed;
      }
    }
}

TEST(EmuKernels, GemmHandlesEmptyK) {
  const GemmRun run = run_gemm({9, 10, 0, 0}, slm::cuda::GemmTile::small, 1);
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 10; ++j) EXPECT_EQ(run.out[static_cast<std::size_t>(i) * 13 + j], 0.0f);
}

}  // namespace
