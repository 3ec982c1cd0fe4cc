// test_forward_ops.cpp — CPU forward ops against float64 references on random data with odd
// shapes: matmul, embedding, RMSNorm, RoPE, SwiGLU, residual add, causal GQA attention.
#include <gtest/gtest.h>

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
