// grad_norm.cpp — blocked sum of squares (fp32 within a block, double across blocks, OpenMP over
// blocks) and an in-place scale.
#include "kernels/cpu/grad_norm.h"

#include <algorithm>

namespace slm::cpu {
namespace {
constexpr std::int64_t k_block = 4096;
}  // namespace

double grad_norm_squared(const float* g, std::int64_t n) {
  const std::int64_t blocks = (n + k_block - 1) / k_block;
  double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (blocks > 16)
  for (std::int64_t bi = 0; bi < blocks; ++bi) {
    const float* p = g + bi * k_block;
    const std::int64_t len = std::min(k_block, n - bi * k_block);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < len; ++i) sum += p[i] * p[i];
    total += static_cast<double>(sum);
  }
  return total;
}

void scale_inplace(float* g, std::int64_t n, float s) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) g[i] *= s;
}

}  // namespace slm::cpu
