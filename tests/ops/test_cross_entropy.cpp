// test_cross_entropy.cpp — CPU chunked linear cross-entropy: the summed loss against float64,
// dx against central finite differences of grad_scale * loss, ignored targets (zero rows),
// chunk sizes that do not divide T, large logits, bad targets, guard regions.
#include <gtest/gtest.h>

#include "kernels/cpu/cross_entropy.h"
#include "tests/ops/grad_check_util.h"
#include "train/core/error.h"

namespace slm {
namespace {
using test::Guarded;

// sum over non-ignored rows of logsumexp(x w^T) - z[target], in float64.
double ce_ref(const std::vector<double>& x, const std::vector<double>& w, const std::vector<std::int32_t>& tg,
              int t, int d, int v) {
  double total = 0;
  for (int i = 0; i < t; ++i) {
    if (tg[i] == cpu::k_ignore_index) continue;
    std::vector<double> z(v, 0.0);
    double mx = -1e300, s = 0;
    for (int j = 0; j < v; ++j) {
      for (int c = 0; c < d; ++c) z[j] += x[i * d + c] * w[j * d + c];
      mx = std::max(mx, z[j]);
    }
    for (double zj : z) s += std::exp(zj - mx);
    total += mx + std::log(s) - z[tg[i]];
  }
  return total;
}

void check_case(std::mt19937& rng, int t, int d, int v, int chunk, double x_std, int ignored_every) {
  auto x = test::normal_doubles(rng, t * d, x_std), w = test::normal_doubles(rng, v * d, 0.5);
  std::vector<std::int32_t> tg(t);
  std::uniform_int_distribution<int> id(0, v - 1);
  int counted = 0;
  for (int i = 0; i < t; ++i) {
    tg[i] = (ignored_every > 0 && i % ignored_every == 1) ? cpu::k_ignore_index : id(rng);
    counted += tg[i] != cpu::k_ignore_index;
  }
  Guarded gx = test::to_guarded(x), gw = test::to_guarded(w), dx(t * d, NAN), scratch(chunk * (v + d + 1));
  const float grad_scale = 1.0f / 7;
  double loss = NAN;
  const auto n = cpu::cross_entropy_forward_backward(&loss, dx.data(), gx.data(), gw.data(), tg.data(), t, d, v,
                                                     chunk, grad_scale, scratch.data());
  const std::string what = "T " + std::to_string(t) + " chunk " + std::to_string(chunk);
  EXPECT_EQ(n, counted) << what;
  const double ref = ce_ref(x, w, tg, t, d, v);
  EXPECT_NEAR(loss, ref, 1e-5 * std::max(1.0, std::abs(ref))) << what;
  const auto grad = test::numeric_grad(x, [&] { return double(grad_scale) * ce_ref(x, w, tg, t, d, v); });
  test::expect_grad_close(dx, grad, 1e-4, "cross_entropy dx, " + what);
  for (int i = 0; i < t; ++i) {
    if (tg[i] != cpu::k_ignore_index) continue;
    for (int c = 0; c < d; ++c) ASSERT_EQ(dx[i * d + c], 0.0f) << "ignored row " << i << ", " << what;
  }
  EXPECT_TRUE(scratch.guards_intact()) << what;
}

TEST(CrossEntropy, ChunksIgnoredTargetsAndFiniteDifferences) {
  std::mt19937 rng(41);
  for (int chunk : {1, 3, 4, 13, 32}) check_case(rng, 13, 7, 11, chunk, 1.0, 3);
  check_case(rng, 5, 13, 37, 2, 1.0, 0);   // nothing ignored
  check_case(rng, 7, 5, 3, 4, 1.0, 2);     // tiny vocabulary, every other row ignored
}

TEST(CrossEntropy, LargeLogitsStayFinite) {
  std::mt19937 rng(42);
  check_case(rng, 6, 8, 17, 4, 40.0, 4);  // logits of size ~100: exp would overflow unshifted
}

TEST(CrossEntropy, AllIgnoredGivesZero) {
  const int t = 4, d = 3, v = 5;
  Guarded x(t * d, 1.0f), w(v * d, 1.0f), dx(t * d, NAN), scratch(2 * (v + d + 1));
  std::vector<std::int32_t> tg(t, cpu::k_ignore_index);
  double loss = NAN;
  EXPECT_EQ(cpu::cross_entropy_forward_backward(&loss, dx.data(), x.data(), w.data(), tg.data(), t, d, v, 2, 1.0f,
                                                scratch.data()),
            0);
  EXPECT_EQ(loss, 0.0);
  test::expect_close(dx, std::vector<double>(t * d, 0.0), 0, "dx with every target ignored");
}

TEST(CrossEntropy, BadTargetThrows) {
  const int t = 3, d = 2, v = 4;
  Guarded x(t * d), w(v * d), dx(t * d), scratch(2 * (v + d + 1));
  double loss = 0;
  for (std::int32_t bad : {4, -1, -99}) {
    std::vector<std::int32_t> tg = {0, bad, 1};
    EXPECT_THROW(cpu::cross_entropy_forward_backward(&loss, dx.data(), x.data(), w.data(), tg.data(), t, d, v, 2,
                                                     1.0f, scratch.data()),
                 Error);
  }
}

}  // namespace
}  // namespace slm
