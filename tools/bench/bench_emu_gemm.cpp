// bench_emu_gemm.cpp — how fast the emulation harness runs the tensor-core GEMM
// (kernels/cuda/gemm_mma.cu): blocks per second and emulated mma.sync per second.
//
// Usage: bench_emu_gemm [M N K [large|small [repeats]]]   (default 256 256 256 large 3)
// Prints one line per run and the best, in wall time and in process CPU time (all threads; the
// CPU-time rate does not drop when other programs share the cores). A program that prints
// numbers, never a timed test.
// SLM_EMU_THREADS sets the OS threads that run blocks (default: all cores).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "kernels/cuda/gemm_mma.h"

int main(int argc, char** argv) {
  const int m = argc > 1 ? std::atoi(argv[1]) : 256;
  const int n = argc > 2 ? std::atoi(argv[2]) : 256;
  const int k = argc > 3 ? std::atoi(argv[3]) : 256;
  const bool large = argc > 4 ? std::strcmp(argv[4], "small") != 0 : true;
  const int repeats = argc > 5 ? std::atoi(argv[5]) : 3;
  const int bm = large ? 64 : 32, bn = large ? 64 : 32;
  std::vector<__nv_bfloat16> a(static_cast<std::size_t>(m) * k), w(static_cast<std::size_t>(n) * k);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = __nv_bfloat16(static_cast<float>(i % 7) - 3.0f);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = __nv_bfloat16(static_cast<float>(i % 5) - 2.0f);
  std::vector<float> out(static_cast<std::size_t>(m) * n);
  const slm::cuda::GemmParams p{a.data(), w.data(), out.data(), m, n, k, k, k, n};
  const long long blocks = 1ll * ((n + bn - 1) / bn) * ((m + bm - 1) / bm);
  // Per block: 4 warps, each (WM/16) * (WN/8) mma per k16 step, over ceil(K / BK) * BK / 16 steps.
  const int bk = large ? 32 : 16, wm = large ? 32 : 16, wn = large ? 32 : 16;
  const long long mma = blocks * 4 * (wm / 16) * (wn / 8) * ((k + bk - 1) / bk) * (bk / 16);
  double best = 1e30, best_cpu = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    slm::cuda::gemm_bf16_nt(p, large ? slm::cuda::GemmTile::large : slm::cuda::GemmTile::small, nullptr);
    const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, seconds);
    best_cpu = std::min(best_cpu, cpu);
    std::printf("run %d: %.3f s wall, %.3f s CPU\n", r + 1, seconds, cpu);
  }
  std::printf("gemm_bf16_nt %s tile (%dx%d, 128 threads), M=%d N=%d K=%d: %lld blocks in %.3f s = %.1f blocks/s, "
              "%.0f emulated mma.sync/s, %.3f GFLOP/s\n",
              large ? "large" : "small", bm, bn, m, n, k, blocks, best, blocks / best, mma / best,
              2.0 * m * n * k / best * 1e-9);
  std::printf("per CPU second (all threads): %.1f blocks/s, %.0f emulated mma.sync/s\n", blocks / best_cpu,
              mma / best_cpu);
  return 0;
}
