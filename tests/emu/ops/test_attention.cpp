// test_attention.cpp — the fused attention forward (kernels/cuda/attention.h) under the harness,
// against float64 on the same 16-bit-rounded inputs and against its CPU twin
// (slm::cpu::attention_forward_train): single and packed documents, GQA ratios 1 and 2, sliding
// windows, head dims 64 and 128, bf16 and fp16 inputs, guard regions around every output, and
// identical bits under the forward, reverse and shuffled schedules.
//
// Acceptance (issue 8), both errors against float64 on the same rounded inputs:
// - default (FlashAttention-2: P rounded to the input type before P V): the kernel's 16-bit
//   output (what the o_proj GEMM reads) within twice the error of the CPU twin at that precision
//   (fed the rounded inputs, computing in fp32, its output rounded to the same type); its fp32
//   output within the CPU twin's 16-bit error (the rounding of P alone costs up to ~2^-9 relative
//   per probability, so it cannot meet the CPU twin's fp32 error, ~5000x smaller);
// - exact_probabilities (P as three rounded pieces): the kernel's fp32 output within twice the
//   CPU twin's fp32 error;
// - the LSE to 1e-5 relative in both.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device, without the
// schedule comparison (harness only).
// Does not hold: the backward.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention_backward.h"
#include "kernels/cuda/attention.h"
#include "tests/emu/ops/attention_case.h"
#include "tests/emu/ops/device_buffer.h"
#include "train/core/error.h"
#if SLM_EMU_TESTS
#include "tests/emu/emu_test_util.h"
#endif

namespace {

using slm::cuda::AttentionInput;
using slm::ops_test::DeviceArray;
using slm::ops_test::from_float;
using slm::ops_test::to_float;

constexpr float k_guard = 12345.0f;

using Case = slm::emu::testing::AttentionCase;
using slm::emu::testing::describe;

// Errors of one case, each the largest |x - exact| over all elements.
struct Measured {
  double kernel_fp32 = 0, kernel_half = 0, cpu_fp32 = 0, cpu_half = 0, lse_rel = 0;
  std::vector<float> out, lse;  // the kernel's, for the schedule comparison
};

template <class Elem>
Measured run_case(const Case& c, AttentionInput type, unsigned seed, bool exact = false) {
  const std::size_t nq = static_cast<std::size_t>(c.t) * c.h * c.e, nkv = static_cast<std::size_t>(c.t) * c.g * c.e;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<Elem> qh(nq), kh(nkv), vh(nkv);
  std::vector<float> qf(nq), kf(nkv), vf(nkv);  // the rounded inputs, for the references
  for (std::size_t i = 0; i < nq; ++i) qf[i] = to_float(qh[i] = from_float<Elem>(c.q_scale * normal(rng)));
  for (std::size_t i = 0; i < nkv; ++i) kf[i] = to_float(kh[i] = from_float<Elem>(normal(rng)));
  for (std::size_t i = 0; i < nkv; ++i) vf[i] = to_float(vh[i] = from_float<Elem>(normal(rng)));
  const Elem guard16 = from_float<Elem>(k_guard);
  const DeviceArray<Elem> q(qh, guard16), k(kh, guard16), v(vh, guard16);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.e));

  std::vector<std::int32_t> cu = c.cu.empty() ? std::vector<std::int32_t>{0, c.t} : c.cu;
  const int n_docs = static_cast<int>(cu.size()) - 1;
  int max_len = 0;
  for (int d = 0; d < n_docs; ++d) max_len = std::max(max_len, cu[d + 1] - cu[d]);

  const DeviceArray<std::int32_t> dev_cu(cu, -1);
  DeviceArray<float> out(nq, k_guard), lse(static_cast<std::size_t>(c.t) * c.h, k_guard);
  DeviceArray<Elem> out_half(nq, guard16);
  slm::cuda::AttentionParams p;
  p.q = q.get();
  p.k = k.get();
  p.v = v.get();
  p.out = out.get();
  p.out_half = out_half.get();
  p.lse = lse.get();
  p.cu_seqlens = c.cu.empty() ? nullptr : dev_cu.get();
  p.t = c.t;
  p.h = c.h;
  p.g = c.g;
  p.e = c.e;
  p.n_docs = n_docs;
  p.max_doc_len = c.cu.empty() ? c.t : max_len;
  p.window = c.window;
  p.scale = scale;
  p.exact_probabilities = exact;
  slm::cuda::attention_forward_train(p, type, nullptr);
  EXPECT_TRUE(out.guards_intact()) << "out guard written, " << describe(c);
  EXPECT_TRUE(lse.guards_intact()) << "lse guard written, " << describe(c);
  EXPECT_TRUE(out_half.guards_intact()) << "out_half guard written, " << describe(c);
  Measured r;
  r.out = out.download();
  r.lse = lse.download();
  const std::vector<Elem> got_out_half = out_half.download();

  std::vector<float> cpu_out(nq), cpu_lse(static_cast<std::size_t>(c.t) * c.h);
  std::vector<float> scratch(static_cast<std::size_t>(omp_get_max_threads()) * c.t);
  slm::cpu::attention_forward_train(cpu_out.data(), cpu_lse.data(), qf.data(), kf.data(), vf.data(), c.t, c.h, c.g,
                                    c.e, scale, c.cu.empty() ? nullptr : cu.data(), n_docs, scratch.data(), c.window);

  const int group = c.h / c.g;
  std::vector<double> w(static_cast<std::size_t>(c.t));
  for (int d = 0; d < n_docs; ++d)
    for (int i = cu[d]; i < cu[d + 1]; ++i)
      for (int hi = 0; hi < c.h; ++hi) {
        const int gi = hi / group;
        const int lo = c.window > 0 ? std::max(cu[d], i - c.window + 1) : cu[d];
        double mx = -INFINITY;
        for (int j = lo; j <= i; ++j) {
          double s = 0;
          for (int x = 0; x < c.e; ++x)
            s += static_cast<double>(qf[(static_cast<std::size_t>(i) * c.h + hi) * c.e + x]) *
                 kf[(static_cast<std::size_t>(j) * c.g + gi) * c.e + x];
          w[j] = s * static_cast<double>(scale);
          mx = std::max(mx, w[j]);
        }
        double sum = 0;
        for (int j = lo; j <= i; ++j) sum += (w[j] = std::exp(w[j] - mx));
        const std::size_t row = static_cast<std::size_t>(i) * c.h + hi;
        const double lse_exact = mx + std::log(sum);
        EXPECT_TRUE(std::isfinite(r.lse[row])) << "lse row " << row << ", " << describe(c);
        r.lse_rel = std::max(r.lse_rel, std::fabs(r.lse[row] - lse_exact) / std::max(1.0, std::fabs(lse_exact)));
        for (int x = 0; x < c.e; ++x) {
          double exact = 0;
          for (int j = lo; j <= i; ++j) exact += w[j] * vf[(static_cast<std::size_t>(j) * c.g + gi) * c.e + x];
          exact /= sum;
          const std::size_t at = row * c.e + x;
          const float got = r.out[at], got_half = to_float(got_out_half[at]);
          EXPECT_TRUE(std::isfinite(got) && std::isfinite(got_half)) << "out " << at << ", " << describe(c);
          r.kernel_fp32 = std::max(r.kernel_fp32, std::fabs(got - exact));
          r.kernel_half = std::max(r.kernel_half, std::fabs(got_half - exact));
          r.cpu_fp32 = std::max(r.cpu_fp32, std::fabs(cpu_out[at] - exact));
          r.cpu_half = std::max(r.cpu_half, std::fabs(to_float(from_float<Elem>(cpu_out[at])) - exact));
        }
      }
  return r;
}

const Case k_cases[] = {
    {1, 2, 1, 64, {}, 0},                  // one token
    {17, 2, 2, 64, {}, 0},                 // one partial tile, GQA 1
    {40, 4, 2, 64, {0, 17, 18, 40}, 0},    // three documents (one of length 1), GQA 2
    {40, 2, 1, 64, {}, 7},                 // sliding window
    {150, 2, 1, 64, {0, 131, 150}, 20},    // window across tiles (skipped and masked tiles), two docs
    {130, 2, 2, 64, {}, 0},                // three query blocks, three K/V tiles
    {40, 2, 1, 128, {0, 25, 40}, 0},       // head dim 128, GQA 2, two documents
    {70, 2, 2, 128, {0, 3, 70}, 9},        // head dim 128, window, two K/V tiles
    {40, 2, 1, 256, {0, 23, 40}, 0},       // head dim 256 (Q from shared memory), two K/V tiles of 32
    {75, 2, 2, 256, {}, 30},               // head dim 256, window, three K/V tiles
    {40, 2, 2, 64, {0, 0, 17, 17, 40}, 0}, // empty documents among the packed ones
    {150, 2, 1, 64, {}, 0, 12.0f},         // sharp softmax across three K/V tiles
    {33, 9, 3, 64, {0, 20, 33}, 0},        // SmolLM2-135M's heads: 9 query heads on 3 kv heads
};

void check_acceptance(const Measured& r, const Case& c, const char* type) {
  std::printf("[attention %s] %s: kernel fp32 out %.3g, kernel 16-bit out %.3g | CPU twin fp32 %.3g, CPU twin "
              "rounded to 16 bits %.3g | lse rel %.3g\n",
              type, describe(c).c_str(), r.kernel_fp32, r.kernel_half, r.cpu_fp32, r.cpu_half, r.lse_rel);
  EXPECT_LE(r.kernel_half, 2 * r.cpu_half) << type << ", " << describe(c);
  EXPECT_LE(r.lse_rel, 1e-5) << type << ", " << describe(c);
  // The fp32 output carries the probabilities' rounding to 16 bits before P V (up to 2^-9
  // relative for bf16); it stays well inside the 16-bit output's own rounding.
  EXPECT_LE(r.kernel_fp32, r.cpu_half) << type << ", " << describe(c);
}

TEST(CudaAttention, Bf16ForwardMatchesFloat64AndTheCpuTwin) {
  for (const Case& c : k_cases) check_acceptance(run_case<__nv_bfloat16>(c, AttentionInput::bf16, 11), c, "bf16");
}

TEST(CudaAttention, F16ForwardMatchesFloat64AndTheCpuTwin) {
  for (const Case& c : {k_cases[2], k_cases[4], k_cases[7], k_cases[9]})
    check_acceptance(run_case<__half>(c, AttentionInput::f16, 12), c, "f16");
}

// With the probabilities entering P V to about fp32 accuracy (three rounded pieces), the kernel's
// fp32 output meets the rule against the CPU twin's own fp32 error: nothing else in the kernel
// (scores, masks, online rescaling, LSE) loses more than fp32 rounding.
TEST(CudaAttention, ExactProbabilitiesMatchTheCpuTwinInFp32) {
  for (const Case& c : k_cases) {
    const Measured r = run_case<__nv_bfloat16>(c, AttentionInput::bf16, 11, true);
    std::printf("[attention bf16 exact P] %s: kernel fp32 out %.3g | CPU twin fp32 %.3g | lse rel %.3g\n",
                describe(c).c_str(), r.kernel_fp32, r.cpu_fp32, r.lse_rel);
    EXPECT_LE(r.kernel_fp32, 2 * r.cpu_fp32) << describe(c);
    EXPECT_LE(r.lse_rel, 1e-5) << describe(c);
  }
  for (const Case& c : {k_cases[2], k_cases[7], k_cases[9]}) {
    const Measured r = run_case<__half>(c, AttentionInput::f16, 12, true);
    std::printf("[attention f16 exact P] %s: kernel fp32 out %.3g | CPU twin fp32 %.3g | lse rel %.3g\n",
                describe(c).c_str(), r.kernel_fp32, r.cpu_fp32, r.lse_rel);
    EXPECT_LE(r.kernel_fp32, 2 * r.cpu_fp32) << describe(c);
  }
}

#if SLM_EMU_TESTS
TEST(CudaAttention, IdenticalBitsUnderEverySchedule) {
  using slm::emu::Schedule;
  using slm::emu::testing::ScopedSchedule;
  struct Order {
    Schedule schedule;
    std::uint64_t seed;
  };
  const Case& c = k_cases[4];
  Measured first;
  for (const Order order : {Order{Schedule::forward, 1}, Order{Schedule::reverse, 1}, Order{Schedule::shuffled, 5}}) {
    ScopedSchedule s(order.schedule, order.seed);
    const Measured r = run_case<__nv_bfloat16>(c, AttentionInput::bf16, 3);
    if (first.out.empty()) {
      first = r;
      continue;
    }
    EXPECT_EQ(std::memcmp(r.out.data(), first.out.data(), r.out.size() * sizeof(float)), 0)
        << "schedule " << static_cast<int>(order.schedule);
    EXPECT_EQ(std::memcmp(r.lse.data(), first.lse.data(), r.lse.size() * sizeof(float)), 0)
        << "schedule " << static_cast<int>(order.schedule);
  }
}
#endif  // SLM_EMU_TESTS

TEST(CudaAttention, RejectsBadArguments) {
  slm::cuda::AttentionParams p;
  DeviceArray<float> dummy_array(4, 0.0f);
  float* dummy = dummy_array.get();
  p.q = p.k = p.v = dummy;
  p.out = p.lse = dummy;
  p.t = p.max_doc_len = 4;
  p.h = 3;
  p.g = 2;
  p.e = 64;
  EXPECT_THROW(slm::cuda::attention_forward_train(p, AttentionInput::bf16, nullptr), slm::Error);  // H % G
  p.h = 2;
  p.e = 96;
  EXPECT_THROW(slm::cuda::attention_forward_train(p, AttentionInput::bf16, nullptr), slm::Error);  // head dim
  p.e = 64;
  p.q = reinterpret_cast<const char*>(dummy) + 2;
  EXPECT_THROW(slm::cuda::attention_forward_train(p, AttentionInput::bf16, nullptr), slm::Error);  // alignment
  p.q = dummy;
  p.window = -1;
  EXPECT_THROW(slm::cuda::attention_forward_train(p, AttentionInput::bf16, nullptr), slm::Error);  // window
}

}  // namespace
