// peak.cpp — an FMA throughput loop. 16 independent accumulators of the widest vector the
// compiler targets (-march=native: 16 floats with AVX-512) hide the FMA latency; the result is
// stored so nothing is optimized away.
#include "kernels/cpu/peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

namespace slm::cpu {
namespace {
typedef float Vec __attribute__((vector_size(64)));  // 16 floats
constexpr int k_chains = 16;
constexpr long k_iterations = 4'000'000;
}  // namespace

double measure_fp32_peak_gflops() {
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    float sink = 0;
    const auto start = std::chrono::steady_clock::now();
    int threads = 1;
#pragma omp parallel reduction(+ : sink)
    {
#pragma omp single
      threads = omp_get_num_threads();
      Vec acc[k_chains];
      const Vec a = {} , b = {};
      Vec mul = a + 0.999999f, add = b + 1e-7f;
      for (int c = 0; c < k_chains; ++c) acc[c] = a + static_cast<float>(c + omp_get_thread_num());
      for (long i = 0; i < k_iterations; ++i)
#pragma GCC unroll 16
        for (int c = 0; c < k_chains; ++c) acc[c] = acc[c] * mul + add;
      for (int c = 0; c < k_chains; ++c)
        for (int j = 0; j < 16; ++j) sink += acc[c][j];
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double flops = 2.0 * 16 * k_chains * static_cast<double>(k_iterations) * threads;
    best = std::max(best, flops / seconds / 1e9 + (sink == 12345.0f ? 1e-30 : 0.0));
  }
  return best;
}

}  // namespace slm::cpu
