// test_attention_backward.cpp — CPU training attention: attention_forward_train (out and
// log-sum-exp) against float64, its agreement with the inference forward, and
// attention_backward (dq, dk, dv) against central finite differences; GQA ratios 1, 2, 3,
// packed documents (including an empty one), sliding windows, odd shapes, guard regions.
#include <gtest/gtest.h>

#include <omp.h>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_backward.h"
#include "tests/ops/grad_check_util.h"
#include "train/core/error.h"

namespace slm {
namespace {
using test::Guarded;

struct AttnCase {
  int t, h, g, e;
  std::vector<std::int32_t> cu;  // empty: one document
  int window;
};

bool visible(const AttnCase& c, int ti, int j) {
  if (j > ti || (c.window > 0 && ti - j >= c.window)) return false;
  for (std::size_t d = 0; d + 1 < c.cu.size(); ++d)  // same document
    if ((ti >= c.cu[d] && ti < c.cu[d + 1]) != (j >= c.cu[d] && j < c.cu[d + 1])) return false;
  return true;
}

// out [T, H, E] (and lse [T, H] when given) in float64.
std::vector<double> attention_ref(const std::vector<double>& q, const std::vector<double>& k,
                                  const std::vector<double>& v, const AttnCase& c, double scale,
                                  std::vector<double>* lse = nullptr) {
  const int kv = c.g * c.e, group = c.h / c.g;
  std::vector<double> out(c.t * c.h * c.e, 0.0);
  for (int ti = 0; ti < c.t; ++ti)
    for (int hi = 0; hi < c.h; ++hi) {
      const int row = ti * c.h + hi, gi = hi / group;
      std::vector<double> s(c.t, -1e300);
      double mx = -1e300, z = 0;
      for (int j = 0; j <= ti; ++j) {
        if (!visible(c, ti, j)) continue;
        double dot = 0;
        for (int x = 0; x < c.e; ++x) dot += q[row * c.e + x] * k[j * kv + gi * c.e + x];
        mx = std::max(mx, s[j] = dot * scale);
      }
      for (int j = 0; j <= ti; ++j) z += visible(c, ti, j) ? std::exp(s[j] - mx) : 0.0;
      for (int j = 0; j <= ti; ++j) {
        if (!visible(c, ti, j)) continue;
        for (int x = 0; x < c.e; ++x) out[row * c.e + x] += std::exp(s[j] - mx) / z * v[j * kv + gi * c.e + x];
      }
      if (lse) (*lse)[row] = mx + std::log(z);
    }
  return out;
}

std::vector<AttnCase> cases() {
  return {
      {5, 2, 2, 4, {}, 0},                // MHA (ratio 1), one document
      {7, 6, 3, 5, {0, 3, 7}, 0},         // ratio 2, two documents
      {13, 6, 2, 3, {0, 4, 9, 13}, 0},    // ratio 3, three documents
      {13, 3, 1, 4, {0, 6, 6, 13}, 4},    // ratio 3, an empty document, sliding window 4
      {9, 4, 2, 7, {}, 3},                // window only
  };
}

TEST(AttentionBackward, ForwardTrainAgainstFloat64) {
  std::mt19937 rng(31);
  for (const AttnCase& c : cases()) {
    const double scale = 1 / std::sqrt(double(c.e));
    auto q = test::normal_doubles(rng, c.t * c.h * c.e), k = test::normal_doubles(rng, c.t * c.g * c.e);
    auto v = test::normal_doubles(rng, c.t * c.g * c.e);
    Guarded gq = test::to_guarded(q), gk = test::to_guarded(k), gv = test::to_guarded(v);
    Guarded out(c.t * c.h * c.e, NAN), lse(c.t * c.h, NAN), scratch(omp_get_max_threads() * c.t);
    const std::int32_t* cu = c.cu.empty() ? nullptr : c.cu.data();
    cpu::attention_forward_train(out.data(), lse.data(), gq.data(), gk.data(), gv.data(), c.t, c.h, c.g, c.e,
                                 float(scale), cu, std::int64_t(c.cu.size()) - 1, scratch.data(), c.window);
    std::vector<double> lse_ref(c.t * c.h);
    test::expect_close(out, attention_ref(q, k, v, c, scale, &lse_ref), 1e-5, "attention_forward_train out");
    test::expect_close(lse, lse_ref, 1e-5, "attention_forward_train lse");
    EXPECT_TRUE(scratch.guards_intact());
    if (c.cu.empty() && c.window == 0) {  // one document, no window: the inference forward
      Guarded inf(c.t * c.h * c.e);
      cpu::attention_forward(inf.data(), gq.data(), gk.data(), gv.data(), c.t, c.t, c.h, c.g, c.e, c.g * c.e,
                             float(scale), scratch.data());
      test::expect_close(inf, out.as_double(), 1e-6, "inference forward vs training forward");
    }
  }
}

TEST(AttentionBackward, GradientsByFiniteDifferences) {
  std::mt19937 rng(32);
  for (const AttnCase& c : cases()) {
    const double scale = 1 / std::sqrt(double(c.e));
    auto q = test::normal_doubles(rng, c.t * c.h * c.e), k = test::normal_doubles(rng, c.t * c.g * c.e);
    auto v = test::normal_doubles(rng, c.t * c.g * c.e), dout = test::normal_doubles(rng, c.t * c.h * c.e);
    Guarded gq = test::to_guarded(q), gk = test::to_guarded(k), gv = test::to_guarded(v);
    Guarded gdout = test::to_guarded(dout);
    Guarded out(c.t * c.h * c.e), lse(c.t * c.h), scratch(omp_get_max_threads() * c.t + c.t * c.h);
    const std::int32_t* cu = c.cu.empty() ? nullptr : c.cu.data();
    const std::int64_t n_docs = std::int64_t(c.cu.size()) - 1;
    cpu::attention_forward_train(out.data(), lse.data(), gq.data(), gk.data(), gv.data(), c.t, c.h, c.g, c.e,
                                 float(scale), cu, n_docs, scratch.data(), c.window);
    // Outputs pre-filled with NaN: they are overwritten.
    Guarded dq(c.t * c.h * c.e, NAN), dk(c.t * c.g * c.e, NAN), dv(c.t * c.g * c.e, NAN), bscratch(c.t * c.h);
    cpu::attention_backward(dq.data(), dk.data(), dv.data(), gdout.data(), gq.data(), gk.data(), gv.data(),
                            out.data(), lse.data(), c.t, c.h, c.g, c.e, float(scale), cu, n_docs, bscratch.data(),
                            c.window);
    auto loss = [&] { return test::contract(dout, attention_ref(q, k, v, c, scale)); };
    test::expect_grad_close(dq, test::numeric_grad(q, loss), 1e-4, "attention dq");
    test::expect_grad_close(dk, test::numeric_grad(k, loss), 1e-4, "attention dk");
    test::expect_grad_close(dv, test::numeric_grad(v, loss), 1e-4, "attention dv");
    EXPECT_TRUE(bscratch.guards_intact());
  }
}

// AttentionProbabilities::bf16 (the CPU reference at the CUDA kernels' precision) rounds P and dS:
// out, dq, dk and dv move away from the fp32 results by about bf16's rounding (2^-8 relative),
// not 0 and not more; lse is unchanged (the normalizing sum stays fp32).
TEST(AttentionBackward, Bf16ProbabilitiesDifferByAboutBf16Rounding) {
  std::mt19937 rng(34);
  const int t = 19, h = 4, g = 2, e = 16;
  const std::vector<std::int32_t> cu = {0, 7, t};
  Guarded q(t * h * e), k(t * g * e), v(t * g * e), dout(t * h * e);
  for (Guarded* x : {&q, &k, &v, &dout}) x->fill_normal(rng);
  std::vector<float> results[2][4];  // [fp32, bf16][out, dq, dk, dv]
  std::vector<float> lses[2];
  for (int b = 0; b < 2; ++b) {
    const auto mode = b ? cpu::AttentionProbabilities::bf16 : cpu::AttentionProbabilities::fp32;
    Guarded out(t * h * e), lse(t * h), scr(omp_get_max_threads() * t), dq(t * h * e), dk(t * g * e), dv(t * g * e),
        bscr(t * h);
    cpu::attention_forward_train(out.data(), lse.data(), q.data(), k.data(), v.data(), t, h, g, e, 0.25f, cu.data(),
                                 2, scr.data(), 0, mode);
    cpu::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                            lse.data(), t, h, g, e, 0.25f, cu.data(), 2, bscr.data(), 0, mode);
    int i = 0;
    for (Guarded* x : {&out, &dq, &dk, &dv}) results[b][i++].assign(x->data(), x->data() + x->size());
    lses[b].assign(lse.data(), lse.data() + lse.size());
  }
  EXPECT_EQ(lses[0], lses[1]);
  const char* names[] = {"out", "dq", "dk", "dv"};
  for (int i = 0; i < 4; ++i) {
    double worst = 0, scale = 0;
    for (std::size_t j = 0; j < results[0][i].size(); ++j) {
      worst = std::max(worst, std::abs(double(results[1][i][j]) - results[0][i][j]));
      scale = std::max(scale, std::abs(double(results[0][i][j])));
    }
    EXPECT_GT(worst / scale, 1e-5) << names[i] << ": the rounding had no effect";
    EXPECT_LT(worst / scale, 1.0 / 256) << names[i];
  }
}

// Packed documents give exactly what each document gives alone.
TEST(AttentionBackward, PackedEqualsSeparate) {
  std::mt19937 rng(33);
  const int t = 11, h = 4, g = 2, e = 6, split = 5;
  const std::vector<std::int32_t> cu = {0, split, t};
  Guarded q(t * h * e), k(t * g * e), v(t * g * e), out(t * h * e), lse(t * h), scr(omp_get_max_threads() * t);
  q.fill_normal(rng);
  k.fill_normal(rng);
  v.fill_normal(rng);
  cpu::attention_forward_train(out.data(), lse.data(), q.data(), k.data(), v.data(), t, h, g, e, 0.4f, cu.data(),
                               2, scr.data());
  Guarded out2(t * h * e), lse2(t * h);
  cpu::attention_forward_train(out2.data() + split * h * e, lse2.data() + split * h, q.data() + split * h * e,
                               k.data() + split * g * e, v.data() + split * g * e, t - split, h, g, e, 0.4f,
                               nullptr, 0, scr.data());
  for (int i = split * h * e; i < t * h * e; ++i) EXPECT_EQ(out[i], out2[i]) << i;
  for (int i = split * h; i < t * h; ++i) EXPECT_EQ(lse[i], lse2[i]) << i;
}

TEST(AttentionBackward, BadDocumentOffsetsThrow) {
  Guarded q(4 * 2), k(4 * 2), v(4 * 2), out(4 * 2), lse(4), scr(omp_get_max_threads() * 4);
  const std::vector<std::int32_t> short_end = {0, 2, 3}, unsorted = {0, 3, 2, 4};
  EXPECT_THROW(cpu::attention_forward_train(out.data(), lse.data(), q.data(), k.data(), v.data(), 4, 1, 1, 2, 1.0f,
                                            short_end.data(), 2, scr.data()),
               Error);
  EXPECT_THROW(cpu::attention_forward_train(out.data(), lse.data(), q.data(), k.data(), v.data(), 4, 1, 1, 2, 1.0f,
                                            unsorted.data(), 3, scr.data()),
               Error);
}

}  // namespace
}  // namespace slm
