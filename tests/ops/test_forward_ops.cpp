// test_forward_ops.cpp — CPU forward ops against float64 references on random data with odd
// shapes: matmul, embedding, RMSNorm, RoPE, SwiGLU, GeGLU, residual add, causal GQA attention.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <numbers>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/layers.h"
#include "kernels/cpu/matmul.h"
#include "tests/ops/op_test_util.h"
#include "train/core/error.h"

namespace slm {
namespace {
using test::Guarded;

TEST(ForwardOps, MatmulNt) {
  std::mt19937 rng(1);
  for (auto [m, n, k] : {std::tuple{1, 1, 1}, {5, 7, 13}, {13, 5, 7}, {64, 33, 129}}) {
    Guarded a(m * k), b(n * k), out(m * n);
    a.fill_normal(rng);
    b.fill_normal(rng);
    out.fill_normal(rng);
    for (float beta : {0.0f, 1.0f}) {
      Guarded o2 = out;
      std::vector<double> ref(m * n);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double s = beta * double(out[i * n + j]);
          for (int c = 0; c < k; ++c) s += double(a[i * k + c]) * b[j * k + c];
          ref[i * n + j] = s;
        }
      cpu::matmul_nt(o2.data(), a.data(), b.data(), m, n, k, beta);
      test::expect_close(o2, ref, 1e-5, "matmul_nt");
    }
  }
}

TEST(ForwardOps, EmbeddingAndBadIds) {
  std::mt19937 rng(2);
  const int v = 11, d = 7;
  Guarded table(v * d), out(3 * d);
  table.fill_normal(rng);
  std::vector<std::int32_t> ids = {3, 0, 10};
  cpu::embedding_forward(out.data(), table.data(), ids.data(), 3, d, v);
  std::vector<double> ref;
  for (int id : ids)
    for (int j = 0; j < d; ++j) ref.push_back(table[id * d + j]);
  test::expect_close(out, ref, 0, "embedding");
  ids[1] = 11;
  EXPECT_THROW(cpu::embedding_forward(out.data(), table.data(), ids.data(), 3, d, v), Error);
}

TEST(ForwardOps, RmsNorm) {
  std::mt19937 rng(3);
  for (auto [t, d] : {std::pair{1, 1}, {5, 7}, {13, 576}}) {
    Guarded x(t * d), w(d), out(t * d);
    x.fill_normal(rng, 3.0f);
    w.fill_normal(rng);
    const double eps = 1e-5;
    std::vector<double> ref(t * d);
    for (int i = 0; i < t; ++i) {
      double ss = 0;
      for (int j = 0; j < d; ++j) ss += double(x[i * d + j]) * x[i * d + j];
      double r = 1 / std::sqrt(ss / d + eps);
      for (int j = 0; j < d; ++j) ref[i * d + j] = x[i * d + j] * r * w[j];
    }
    cpu::rmsnorm_forward(out.data(), x.data(), w.data(), t, d, float(eps));
    test::expect_close(out, ref, 1e-5, "rmsnorm");
  }
}

TEST(ForwardOps, RopeRotateHalf) {
  std::mt19937 rng(4);
  const int t = 5, n = 3, e = 10, half = e / 2;
  Guarded x(t * n * e), cs(t * half), sn(t * half);
  x.fill_normal(rng);
  for (int i = 0; i < t * half; ++i) {
    double angle = 0.37 * (i / half) * std::pow(10000.0, -2.0 * (i % half) / e);
    cs[i] = float(std::cos(angle));
    sn[i] = float(std::sin(angle));
  }
  std::vector<double> ref(x.size());
  for (int ti = 0; ti < t; ++ti)
    for (int hi = 0; hi < n; ++hi)
      for (int i = 0; i < half; ++i) {
        const int base = (ti * n + hi) * e;
        double a = x[base + i], b = x[base + i + half], c = cs[ti * half + i], s = sn[ti * half + i];
        ref[base + i] = a * c - b * s;
        ref[base + i + half] = b * c + a * s;
      }
  cpu::rope_forward(x.data(), cs.data(), sn.data(), t, n, e);
  test::expect_close(x, ref, 1e-6, "rope");
}

TEST(ForwardOps, SwigluAndAdd) {
  std::mt19937 rng(5);
  const int count = 13 * 7;
  Guarded g(count), u(count), out(count);
  g.fill_normal(rng, 4.0f);
  u.fill_normal(rng);
  std::vector<double> ref(count), sum(count);
  for (int i = 0; i < count; ++i) {
    ref[i] = g[i] / (1 + std::exp(-double(g[i]))) * u[i];
    sum[i] = double(g[i]) + u[i];
  }
  cpu::swiglu_forward(out.data(), g.data(), u.data(), count);
  test::expect_close(out, ref, 1e-6, "swiglu");
  cpu::add_inplace(g.data(), u.data(), count);
  test::expect_close(g, sum, 1e-6, "add_inplace");
}

// gelu_pytorch_tanh in float64, as x * sigmoid(2 z) (= 0.5 x (1 + tanh z), but 1 + tanh z loses
// digits as x falls: at x = -6 it keeps 6 of them, at x = -9 none; the exponential keeps them all).
double gelu_tanh_ref(double x) {
  const double z = std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x);
  return x / (1 + std::exp(-2 * z));
}

TEST(ForwardOps, GegluAgainstFloat64) {
  std::mt19937 rng(7);
  double worst = 0;
  for (int count : {1, 5, 13 * 7, 1001}) {
    Guarded g(count), u(count), out(count, NAN);
    g.fill_normal(rng, 3.0f);
    u.fill_normal(rng);
    std::vector<double> ref(count);
    for (int i = 0; i < count; ++i) ref[i] = gelu_tanh_ref(g[i]) * u[i];
    cpu::geglu_forward(out.data(), g.data(), u.data(), count);
    test::expect_close(out, ref, 1e-6, "geglu");
    // Relative to each element, the negative tail included (gelu(-6) = -8.4e-11), in units of
    // 2^-24 (1 + |2z|): exp(-2z) inherits the rounding of its argument -2z.
    for (int i = 0; i < count; ++i) {
      if (std::fabs(g[i]) > 9) continue;  // gelu(-10.5) is below fp32's normal range (exp(-2z) overflows)
      const double x = g[i], z = std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x);
      const double unit = 0x1p-24 * (1 + std::fabs(2 * z));
      const double error = std::fabs(out[i] - ref[i]) / (std::fabs(ref[i]) + 1e-37) / unit;
      worst = std::max(worst, error);
      ASSERT_LT(error, 5) << "geglu [" << i << "] gate " << g[i];
    }
    cpu::geglu_forward(u.data(), g.data(), u.data(), count);  // out aliases up
    test::expect_close(u, ref, 1e-6, "geglu (aliasing up)");
  }
  if (std::getenv("SLM_OPS_VERBOSE")) std::printf("geglu forward: max relative error %.3g x 2^-24 (1 + |2z|)\n", worst);
}

// Saturated and huge gates: gelu(x) -> x above, -> -0 below, never NaN for a finite gate.
TEST(ForwardOps, GegluSaturates) {
  const std::vector<float> gate = {30.0f, -30.0f, 1e13f, -1e13f, 1e20f, -1e20f, 0.0f, -0.0f, 3e38f, -3e38f};
  const int count = static_cast<int>(gate.size());
  Guarded g(count), u(count, 0.5f), out(count);
  for (int i = 0; i < count; ++i) g[i] = gate[i];
  cpu::geglu_forward(out.data(), g.data(), u.data(), count);
  ASSERT_TRUE(out.guards_intact());
  for (int i = 0; i < count; ++i) EXPECT_EQ(out[i], gate[i] > 0 ? gate[i] * 0.5f : 0.0f) << "gate " << gate[i];
}

TEST(ForwardOps, CausalGqaAttentionWithCacheOffset) {
  std::mt19937 rng(6);
  // T new queries after S - T cached keys; kv rows strided as in a KV cache of capacity 9.
  for (auto [t, s, h, g, e] : {std::tuple{5, 5, 4, 2, 8}, {3, 7, 6, 3, 5}, {1, 9, 3, 1, 13}, {7, 7, 2, 2, 4}}) {
    const int stride = g * e + 3;
    Guarded q(t * h * e), k(9 * stride), v(9 * stride), out(t * h * e), scores(64 * 9);
    q.fill_normal(rng);
    k.fill_normal(rng);
    v.fill_normal(rng);
    const double scale = 1 / std::sqrt(double(e));
    std::vector<double> ref(t * h * e, 0.0);
    for (int ti = 0; ti < t; ++ti)
      for (int hi = 0; hi < h; ++hi) {
        const int gi = hi / (h / g), visible = s - t + ti + 1;
        std::vector<double> p(visible);
        double mx = -1e300, z = 0;
        for (int j = 0; j < visible; ++j) {
          double dot = 0;
          for (int c = 0; c < e; ++c) dot += double(q[(ti * h + hi) * e + c]) * k[j * stride + gi * e + c];
          p[j] = dot * scale;
          mx = std::max(mx, p[j]);
        }
        for (double& x : p) z += (x = std::exp(x - mx));
        for (int j = 0; j < visible; ++j)
          for (int c = 0; c < e; ++c) ref[(ti * h + hi) * e + c] += p[j] / z * v[j * stride + gi * e + c];
      }
    cpu::attention_forward(out.data(), q.data(), k.data(), v.data(), t, s, h, g, e, stride, float(scale),
                           scores.data());
    test::expect_close(out, ref, 1e-5, "attention");
  }
}

}  // namespace
}  // namespace slm
