// tsan_check.cpp — the race checker: kernels built with -fsanitize=thread run under the harness's
// ThreadSanitizer build (fibers annotated, barriers and __syncwarp as happens-before edges).
//
//   emu_tsan_check race-free        AdamW, the GEMMs and barrier-correct exchanges: no report
//   emu_tsan_check missing-barrier  a shared-memory exchange without its barrier: reported
//   emu_tsan_check cp-async-race    rows filled by other lanes' cp.async, read by ldmatrix
//                                   without the __syncwarp after the wait: reported
// CTest (label tsan) checks the exit code of the first and the report of the second.
// Does not hold: checks of results (test_emu does those).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/cuda/adamw.h"
#include "kernels/cuda/gemm_mma.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/ptx.cuh"
#include "kernels/cuda/shared.cuh"

namespace {

// Each thread publishes a value in shared memory and reads its neighbour's.
__global__ void exchange_kernel(const float* in, float* out) {
  SLM_SHARED(float, values, 128);
  const unsigned base = blockIdx.x * blockDim.x;
  values[threadIdx.x] = in[base + threadIdx.x];
  __syncthreads();
  out[base + threadIdx.x] = values[(threadIdx.x + 1) % blockDim.x];
}

__global__ void missing_barrier_kernel(const float* in, float* out) {
  SLM_SHARED(float, values, 128);
  values[threadIdx.x] = in[threadIdx.x];
  out[threadIdx.x] = values[(threadIdx.x + 1) % blockDim.x];  // planted bug: no __syncthreads
}

// Lane l copies row (l + 8) % 32 of a 32-row tile with cp.async, waits for its own copy, and
// ldmatrix x4 then reads row l (copied by lane l - 8): correct only with the __syncwarp.
__global__ void cp_async_ldmatrix_kernel(const std::uint16_t* in, std::uint32_t* out, bool sync) {
  SLM_SHARED(std::uint16_t, rows, 32 * 8);
  const unsigned lane = threadIdx.x, copied = (lane + 8) % 32;
  slm::cuda::ptx::cp_async<16>(&rows[copied * 8], &in[copied * 8], 16);
  slm::cuda::ptx::cp_async_wait_all();
  if (sync) __syncwarp();
  std::uint32_t r[4];
  slm::cuda::ptx::ldmatrix_x4(r, &rows[lane * 8]);
  for (int i = 0; i < 4; ++i) out[4 * lane + i] = r[i];
}

void cp_async_ldmatrix(bool sync) {
  alignas(16) static std::uint16_t in[32 * 8];
  for (int i = 0; i < 32 * 8; ++i) in[i] = static_cast<std::uint16_t>(i);
  std::vector<std::uint32_t> out(4 * 32);
  slm::cuda::launch(cp_async_ldmatrix_kernel, dim3(1), dim3(32), 0, nullptr, in, out.data(), sync);
}

void race_free() {
  cp_async_ldmatrix(true);
  std::vector<float> in(4 * 128, 1.0f), out(4 * 128);
  slm::cuda::launch(exchange_kernel, dim3(4), dim3(128), 0, nullptr, in.data(), out.data());
  alignas(16) static float p[1000], g[1000], m[1000], v[1000];
  for (int i = 0; i < 1000; ++i) p[i] = g[i] = 0.5f;
  slm::AdamWParams params;
  params.lr = 1e-3f;
  slm::cuda::adamw_step(params, p, g, m, v, 1000, nullptr);
  std::vector<__nv_bfloat16> a(40 * 48, __nv_bfloat16(1.0f)), w(70 * 48, __nv_bfloat16(0.5f));
  std::vector<float> c(40 * 70);
  slm::cuda::gemm_bf16_nt({a.data(), w.data(), c.data(), 40, 70, 48, 48, 48, 70}, slm::cuda::GemmTile::large, nullptr);
  slm::cuda::gemm_bf16_nt({a.data(), w.data(), c.data(), 40, 70, 47, 48, 48, 70}, slm::cuda::GemmTile::small, nullptr);
  slm::cuda::gemm_bf16_nn({a.data(), w.data(), c.data(), 40, 48, 40, 48, 48, 70}, slm::cuda::GemmTile::large, nullptr);
  std::printf("race-free kernels ran (a report above would be a race)\n");
}

void missing_barrier() {
  std::vector<float> in(128, 1.0f), out(128);
  slm::cuda::launch(missing_barrier_kernel, dim3(1), dim3(128), 0, nullptr, in.data(), out.data());
  std::printf("missing_barrier_kernel ran\n");
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "race-free") == 0) {
    race_free();
  } else if (std::strcmp(mode, "missing-barrier") == 0) {
    missing_barrier();
  } else if (std::strcmp(mode, "cp-async-race") == 0) {
    cp_async_ldmatrix(false);
    std::printf("cp_async_ldmatrix_kernel ran without __syncwarp\n");
  } else {
    std::fprintf(stderr, "usage: emu_tsan_check race-free|missing-barrier|cp-async-race\n");
    return 2;
  }
  return 0;
}
