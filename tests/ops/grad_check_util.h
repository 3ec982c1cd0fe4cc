// grad_check_util.h — shared pieces of the gradient tests: central finite differences of a
// float64 scalar loss, the L = sum(dy * f(x)) contraction, and comparison of an fp32 analytic
// gradient against the numeric one relative to the gradient's scale (with guard and NaN checks).
// Does not hold: references of particular ops (each test file has its own).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tests/ops/op_test_util.h"

namespace slm::test {

// d loss / d x[i] by central differences; `loss` reads x (by reference) and returns a double.
template <typename Loss>
std::vector<double> numeric_grad(std::vector<double>& x, Loss&& loss, double h = 1e-6) {
  std::vector<double> grad(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double plus = loss();
    x[i] = saved - h;
    const double minus = loss();
    x[i] = saved;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

// sum(dy[i] * y[i]) in double.
inline double contract(const std::vector<double>& dy, const std::vector<double>& y) {
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += dy[i] * y[i];
  return s;
}

// got (fp32) against ref elementwise within rel * max|ref| (the gradient's scale; at least
// 1e-30 so an all-zero reference demands exact zeros), guards intact, no NaN/Inf.
inline void expect_grad_close(const Guarded& got, const std::vector<double>& ref, double rel,
                              const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  ASSERT_TRUE(got.guards_intact()) << what << ": wrote outside its output";
  double scale = 1e-30;
  for (double r : ref) scale = std::max(scale, std::abs(r));
  for (std::size_t i = 0; i < ref.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " [" << i << "] = " << got[i];
    ASSERT_NEAR(got[i], ref[i], rel * scale) << what << " [" << i << "] (gradient scale " << scale << ")";
  }
}

// a + b elementwise (expected result of an accumulating op: prefill + gradient).
inline std::vector<double> plus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> s(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) s[i] = a[i] + b[i];
  return s;
}

inline std::vector<double> normal_doubles(std::mt19937& rng, std::size_t n, double stddev = 1.0) {
  std::normal_distribution<double> normal(0.0, stddev);
  std::vector<double> v(n);
  for (double& x : v) x = normal(rng);
  return v;
}

// Copies a float64 vector into an fp32 guarded buffer (the inputs of the op under test), and
// rounds the vector to fp32 so the reference sees exactly the same inputs.
inline Guarded to_guarded(std::vector<double>& v) {
  Guarded g(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    g[i] = static_cast<float>(v[i]);
    v[i] = g[i];
  }
  return g;
}

}  // namespace slm::test
