// test_adamw.cpp — CPU AdamW against a float64 reference of PyTorch's formulation, over several
// steps, with odd sizes, weight decay, gradient scaling, and guard regions after every array.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/adamw.h"
#include "tests/ops/op_test_util.h"

namespace slm {
namespace {

struct Reference {
  std::vector<double> p, m, v;
};

void reference_step(const AdamWParams& a, Reference& r, const std::vector<float>& g) {
  const double bc1 = 1 - std::pow(double(a.beta1), double(a.step));
  const double bc2 = 1 - std::pow(double(a.beta2), double(a.step));
  for (std::size_t i = 0; i < r.p.size(); ++i) {
    double gi = double(g[i]) * a.grad_scale;
    r.p[i] *= 1 - double(a.lr) * a.weight_decay;
    r.m[i] = a.beta1 * r.m[i] + (1 - double(a.beta1)) * gi;
    r.v[i] = a.beta2 * r.v[i] + (1 - double(a.beta2)) * gi * gi;
    r.p[i] -= (a.lr / bc1) * r.m[i] / (std::sqrt(r.v[i]) / std::sqrt(bc2) + a.eps);
  }
}

TEST(AdamWCpu, MatchesFloat64ReferenceOverSteps) {
  for (std::size_t n : {1u, 5u, 7u, 13u, 4096u, 100003u}) {
    std::mt19937 rng(static_cast<unsigned>(n));
    std::normal_distribution<float> normal(0, 1);
    test::Guarded p(n), m(n), v(n);
    std::vector<float> g(n);
    Reference ref{std::vector<double>(n), std::vector<double>(n, 0), std::vector<double>(n, 0)};
    for (std::size_t i = 0; i < n; ++i) {
      p[i] = normal(rng);
      ref.p[i] = p[i];
    }
    AdamWParams a{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f, .grad_scale = 0.5f};
    for (std::int64_t step = 1; step <= 5; ++step) {
      for (std::size_t i = 0; i < n; ++i) g[i] = normal(rng) * (i % 3 == 0 ? 1e-3f : 1.0f);
      a.step = step;
      cpu::adamw_step(a, p.data(), g.data(), m.data(), v.data(), n);
      reference_step(a, ref, g);
    }
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(p[i]));
      ASSERT_NEAR(p[i], ref.p[i], 1e-5 * std::max(1.0, std::abs(ref.p[i]))) << "n=" << n << " i=" << i;
      ASSERT_NEAR(m[i], ref.m[i], 1e-5 * std::max(1e-2, std::abs(ref.m[i])));
    }
    EXPECT_TRUE(p.guards_intact() && m.guards_intact() && v.guards_intact()) << "n=" << n;
  }
}

}  // namespace
}  // namespace slm
