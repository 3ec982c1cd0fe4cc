// op_test_util.h — shared pieces of the op parity tests: buffers with guard regions that catch
// out-of-bounds writes, seeded random fills, and float64-reference comparison with NaN checks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace slm::test {

// n floats with k_guard sentinel floats on both sides.
class Guarded {
 public:
  static constexpr std::size_t k_guard = 16;
  static constexpr float k_sentinel = -7.25e29f;

  explicit Guarded(std::size_t n, float fill = 0.0f) : storage_(n + 2 * k_guard, fill), n_(n) {
    std::fill(storage_.begin(), storage_.begin() + k_guard, k_sentinel);
    std::fill(storage_.end() - k_guard, storage_.end(), k_sentinel);
  }
  float* data() { return storage_.data() + k_guard; }
  const float* data() const { return storage_.data() + k_guard; }
  float& operator[](std::size_t i) { return data()[i]; }
  float operator[](std::size_t i) const { return data()[i]; }
  std::size_t size() const { return n_; }

  // True when nothing wrote outside [0, n).
  bool guards_intact() const {
    for (std::size_t i = 0; i < k_guard; ++i)
      if (storage_[i] != k_sentinel || storage_[k_guard + n_ + i] != k_sentinel) return false;
    return true;
  }
  void fill_normal(std::mt19937& rng, float stddev = 1.0f) {
    std::normal_distribution<float> normal(0.0f, stddev);
    for (std::size_t i = 0; i < n_; ++i) data()[i] = normal(rng);
  }
  std::vector<double> as_double() const { return std::vector<double>(data(), data() + n_); }

 private:
  std::vector<float> storage_;
  std::size_t n_;
};

// Every element finite and within rel * max(1, |ref|) of the float64 reference.
inline void expect_close(const Guarded& got, const std::vector<double>& ref, double rel, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  ASSERT_TRUE(got.guards_intact()) << what << ": wrote outside its output";
  for (std::size_t i = 0; i < ref.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " [" << i << "] = " << got[i];
    ASSERT_NEAR(got[i], ref[i], rel * std::max(1.0, std::abs(ref[i]))) << what << " [" << i << "]";
  }
}

}  // namespace slm::test
