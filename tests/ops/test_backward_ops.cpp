// test_backward_ops.cpp — CPU backward of the dense products, RMSNorm, RoPE, SwiGLU and GeGLU, and the
// gradient-norm helpers: analytic fp32 gradients against central finite differences of float64
// reference forwards, odd shapes, guard regions, accumulate-vs-overwrite semantics.
// LoRA, attention and cross-entropy have their own files.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <tuple>

#include "kernels/cpu/grad_norm.h"
#include "kernels/cpu/layers_backward.h"
#include "kernels/cpu/matmul_backward.h"
#include "tests/ops/grad_check_util.h"

namespace slm {
namespace {
using test::Guarded;

TEST(BackwardOps, MatmulNnTnAgainstFloat64) {
  std::mt19937 rng(11);
  for (auto [m, n, k] : {std::tuple{1, 1, 1}, {5, 7, 13}, {13, 5, 7}, {33, 64, 129}}) {
    Guarded a_nn(m * k), b(k * n), a_tn(k * m), init(m * n);
    a_nn.fill_normal(rng);
    a_tn.fill_normal(rng);
    b.fill_normal(rng);
    init.fill_normal(rng);
    for (float beta : {0.0f, 1.0f}) {
      Guarded nn = init, tn = init;
      if (beta == 0.0f) nn[0] = tn[0] = NAN;  // beta = 0 overwrites, whatever was there
      std::vector<double> ref_nn(m * n), ref_tn(m * n);
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double snn = beta * double(init[i * n + j]), stn = snn;
          for (int c = 0; c < k; ++c) {
            snn += double(a_nn[i * k + c]) * b[c * n + j];
            stn += double(a_tn[c * m + i]) * b[c * n + j];
          }
          ref_nn[i * n + j] = snn;
          ref_tn[i * n + j] = stn;
        }
      cpu::matmul_nn(nn.data(), a_nn.data(), b.data(), m, n, k, beta);
      cpu::matmul_tn(tn.data(), a_tn.data(), b.data(), m, n, k, beta);
      test::expect_close(nn, ref_nn, 1e-5, "matmul_nn");
      test::expect_close(tn, ref_tn, 1e-5, "matmul_tn");
    }
  }
}

// Backward through y = x W^T: dx = dy W (matmul_nn), dW = dy^T x (matmul_tn), against FD.
TEST(BackwardOps, LinearLayerGradientsByFiniteDifferences) {
  std::mt19937 rng(12);
  const int t = 7, n = 5, k = 13;
  auto x = test::normal_doubles(rng, t * k), w = test::normal_doubles(rng, n * k);
  auto dy = test::normal_doubles(rng, t * n);
  Guarded gx = test::to_guarded(x), gw = test::to_guarded(w), gdy = test::to_guarded(dy);
  auto loss = [&] {
    double l = 0;
    for (int i = 0; i < t; ++i)
      for (int j = 0; j < n; ++j) {
        double y = 0;
        for (int c = 0; c < k; ++c) y += x[i * k + c] * w[j * k + c];
        l += dy[i * n + j] * y;
      }
    return l;
  };
  Guarded dx(t * k), dw(n * k, 0.5f);
  cpu::matmul_nn(dx.data(), gdy.data(), gw.data(), t, k, n);
  cpu::matmul_tn(dw.data(), gdy.data(), gx.data(), n, k, t, 1.0f);  // accumulates onto 0.5
  test::expect_grad_close(dx, test::numeric_grad(x, loss), 1e-4, "dx");
  test::expect_grad_close(dw, test::plus(std::vector<double>(n * k, 0.5), test::numeric_grad(w, loss)), 1e-4,
                          "dW");
}

std::vector<double> rmsnorm_ref(const std::vector<double>& x, const std::vector<double>& w, int t, int d,
                                double eps) {
  std::vector<double> y(x.size());
  for (int i = 0; i < t; ++i) {
    double ss = 0;
    for (int j = 0; j < d; ++j) ss += x[i * d + j] * x[i * d + j];
    const double r = 1 / std::sqrt(ss / d + eps);
    for (int j = 0; j < d; ++j) y[i * d + j] = x[i * d + j] * r * w[j];
  }
  return y;
}

TEST(BackwardOps, RmsNormOverwriteAccumulateAndAlias) {
  std::mt19937 rng(13);
  // (D = 1 is degenerate: the output is sign(x) w and the gradient is eps-sized cancellation.)
  for (auto [t, d] : {std::pair{1, 2}, {5, 7}, {3, 13}, {7, 64}}) {
    const double eps = 1e-5;
    auto x = test::normal_doubles(rng, t * d, 2.0), w = test::normal_doubles(rng, d);
    auto dy = test::normal_doubles(rng, t * d);
    Guarded gx = test::to_guarded(x), gw = test::to_guarded(w), gdy = test::to_guarded(dy);
    const auto grad = test::numeric_grad(x, [&] { return test::contract(dy, rmsnorm_ref(x, w, t, d, eps)); });
    Guarded over(t * d, NAN), acc(t * d);
    acc.fill_normal(rng);
    const auto acc_ref = test::plus(acc.as_double(), grad);
    cpu::rmsnorm_backward(over.data(), gdy.data(), gx.data(), gw.data(), t, d, float(eps));
    cpu::rmsnorm_backward(acc.data(), gdy.data(), gx.data(), gw.data(), t, d, float(eps), true);
    test::expect_grad_close(over, grad, 1e-4, "rmsnorm dx (overwrite)");
    test::expect_grad_close(acc, acc_ref, 1e-4, "rmsnorm dx (accumulate)");
    cpu::rmsnorm_backward(gdy.data(), gdy.data(), gx.data(), gw.data(), t, d, float(eps));  // dx aliases dy
    test::expect_grad_close(gdy, grad, 1e-4, "rmsnorm dx (aliasing dy)");
  }
}

TEST(BackwardOps, RopeInverseRotation) {
  std::mt19937 rng(14);
  for (auto [t, n, e] : {std::tuple{5, 3, 10}, {7, 2, 2}, {13, 1, 6}}) {
    const int half = e / 2;
    auto x = test::normal_doubles(rng, t * n * e), dy = test::normal_doubles(rng, t * n * e);
    Guarded cs(t * half), sn(t * half), gdy = test::to_guarded(dy);
    for (int i = 0; i < t * half; ++i) {
      const double angle = 0.37 * (i / half) * std::pow(10000.0, -2.0 * (i % half) / e);
      cs[i] = float(std::cos(angle));
      sn[i] = float(std::sin(angle));
    }
    auto loss = [&] {
      double l = 0;
      for (int row = 0; row < t * n; ++row)
        for (int i = 0; i < half; ++i) {
          const int b = row * e, ti = row / n;
          const double c = cs[ti * half + i], s = sn[ti * half + i], a = x[b + i], bb = x[b + i + half];
          l += dy[b + i] * (a * c - bb * s) + dy[b + i + half] * (bb * c + a * s);
        }
      return l;
    };
    cpu::rope_backward(gdy.data(), cs.data(), sn.data(), t, n, e);
    test::expect_grad_close(gdy, test::numeric_grad(x, loss), 1e-4, "rope dx");
  }
}

TEST(BackwardOps, SwigluOverwritesAndAllowsAliasing) {
  std::mt19937 rng(15);
  const int count = 13 * 7;
  auto gate = test::normal_doubles(rng, count, 4.0), up = test::normal_doubles(rng, count);
  auto dout = test::normal_doubles(rng, count);
  Guarded gg = test::to_guarded(gate), gu = test::to_guarded(up), gd = test::to_guarded(dout);
  auto loss = [&] {
    double l = 0;
    for (int i = 0; i < count; ++i) l += dout[i] * gate[i] / (1 + std::exp(-gate[i])) * up[i];
    return l;
  };
  const auto dgate_ref = test::numeric_grad(gate, loss), dup_ref = test::numeric_grad(up, loss);
  Guarded dgate(count, NAN), dup(count, NAN);
  cpu::swiglu_backward(dgate.data(), dup.data(), gd.data(), gg.data(), gu.data(), count);
  test::expect_grad_close(dgate, dgate_ref, 1e-4, "swiglu dgate");
  test::expect_grad_close(dup, dup_ref, 1e-4, "swiglu dup");
  cpu::swiglu_backward(gg.data(), gu.data(), gd.data(), gg.data(), gu.data(), count);  // in place
  test::expect_grad_close(gg, dgate_ref, 1e-4, "swiglu dgate (aliasing gate)");
  test::expect_grad_close(gu, dup_ref, 1e-4, "swiglu dup (aliasing up)");
}

// HF's gelu_pytorch_tanh as written there: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
double gelu_tanh_hf(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

TEST(BackwardOps, GegluByFiniteDifferencesAndAliasing) {
  std::mt19937 rng(17);
  for (int count : {1, 5, 13 * 7, 1001}) {
    auto gate = test::normal_doubles(rng, count, 3.0), up = test::normal_doubles(rng, count);
    auto dout = test::normal_doubles(rng, count);
    Guarded gg = test::to_guarded(gate), gu = test::to_guarded(up), gd = test::to_guarded(dout);
    auto loss = [&] {
      double l = 0;
      for (int i = 0; i < count; ++i) l += dout[i] * gelu_tanh_hf(gate[i]) * up[i];
      return l;
    };
    const auto dgate_ref = test::numeric_grad(gate, loss), dup_ref = test::numeric_grad(up, loss);
    Guarded dgate(count, NAN), dup(count, NAN);
    cpu::geglu_backward(dgate.data(), dup.data(), gd.data(), gg.data(), gu.data(), count);
    test::expect_grad_close(dgate, dgate_ref, 1e-4, "geglu dgate");
    test::expect_grad_close(dup, dup_ref, 1e-4, "geglu dup");
    cpu::geglu_backward(gg.data(), gu.data(), gd.data(), gg.data(), gu.data(), count);  // in place
    test::expect_grad_close(gg, dgate_ref, 1e-4, "geglu dgate (aliasing gate)");
    test::expect_grad_close(gu, dup_ref, 1e-4, "geglu dup (aliasing up)");
  }
}

// The analytic derivative in float64 (HF's tanh form differentiated, written with s = sigmoid(2z)
// so that it keeps its digits in the negative tail), element by element.
TEST(BackwardOps, GegluAgainstFloat64) {
  std::mt19937 rng(18);
  const int count = 4001;
  auto gate = test::normal_doubles(rng, count, 3.0), up = test::normal_doubles(rng, count);
  auto dout = test::normal_doubles(rng, count);
  Guarded gg = test::to_guarded(gate), gu = test::to_guarded(up), gd = test::to_guarded(dout);
  Guarded dgate(count, NAN), dup(count, NAN);
  cpu::geglu_backward(dgate.data(), dup.data(), gd.data(), gg.data(), gu.data(), count);
  ASSERT_TRUE(dgate.guards_intact() && dup.guards_intact());
  const double k = std::sqrt(2 / std::numbers::pi), c = 0.044715;
  double worst_dgate = 0, worst_dup = 0;
  for (int i = 0; i < count; ++i) {
    const double x = gate[i], z = k * (x + c * x * x * x), s = 1 / (1 + std::exp(-2 * z));
    const double dgelu = s + 2 * x * s * (1 - s) * k * (1 + 3 * c * x * x);
    const double want_dg = dout[i] * up[i] * dgelu, want_du = dout[i] * x * s;
    // gelu' crosses zero near x = -0.75 (the two terms cancel): measure there against their size.
    const double scale_dg = std::fabs(dout[i] * up[i]) * (s + std::fabs(dgelu - s));
    // In units of 2^-24 (1 + |2z|), as the forward: exp(-2z) inherits the rounding of -2z.
    const double unit = 0x1p-24 * (1 + std::fabs(2 * z));
    const double e_dg = std::fabs(dgate[i] - want_dg) / (scale_dg + 1e-37) / unit;
    const double e_du = std::fabs(dup[i] - want_du) / (std::fabs(want_du) + 1e-37) / unit;
    ASSERT_TRUE(std::isfinite(dgate[i]) && std::isfinite(dup[i])) << i;
    if (std::fabs(x) > 9) continue;  // gelu(-10.5) is below fp32's normal range (exp(-2z) overflows)
    worst_dgate = std::max(worst_dgate, e_dg);
    worst_dup = std::max(worst_dup, e_du);
  }
  EXPECT_LT(worst_dgate, 5);
  EXPECT_LT(worst_dup, 5);
  if (std::getenv("SLM_OPS_VERBOSE"))
    std::printf("geglu backward: max relative error dgate %.3g, dup %.3g x 2^-24 (1 + |2z|)\n", worst_dgate,
                worst_dup);
}

// Saturated and huge gates: gelu' -> 1 above and 0 below, never NaN for a finite gate.
TEST(BackwardOps, GegluSaturates) {
  const std::vector<float> gate = {30.0f, -30.0f, 1e13f, -1e13f, 1e20f, -1e20f, 3e38f, -3e38f};
  const int count = static_cast<int>(gate.size());
  Guarded g(count), u(count, 0.5f), d(count, 0.25f), dgate(count), dup(count);
  for (int i = 0; i < count; ++i) g[i] = gate[i];
  cpu::geglu_backward(dgate.data(), dup.data(), d.data(), g.data(), u.data(), count);
  ASSERT_TRUE(dgate.guards_intact() && dup.guards_intact());
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(dgate[i], gate[i] > 0 ? 0.125f : 0.0f) << "gate " << gate[i];  // dout * up * 1
    EXPECT_EQ(dup[i], gate[i] > 0 ? 0.25f * gate[i] : 0.0f) << "gate " << gate[i];
  }
}

TEST(BackwardOps, GradNormSquaredAndScale) {
  std::mt19937 rng(16);
  for (int n : {0, 1, 13, 4096, 4097, 100003}) {
    Guarded g(n);
    g.fill_normal(rng, 0.01f);
    double ref = 0;
    for (int i = 0; i < n; ++i) ref += double(g[i]) * g[i];
    EXPECT_NEAR(cpu::grad_norm_squared(g.data(), n), ref, 1e-5 * std::max(ref, 1e-30)) << n;
    std::vector<double> scaled(n);
    for (int i = 0; i < n; ++i) scaled[i] = double(g[i]) * 0.37f;
    cpu::scale_inplace(g.data(), n, 0.37f);
    test::expect_close(g, scaled, 1e-7, "scale_inplace");
  }
}

}  // namespace
}  // namespace slm
