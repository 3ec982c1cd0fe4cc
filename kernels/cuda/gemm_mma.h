// gemm_mma.h — tiled tensor-core GEMMs with bf16 inputs and fp32 output:
//   gemm_bf16_nt: out[M, N] = a[M, K] * b[N, K]^T   (`x W^T`, W stored [out, in] as in HF files)
//   gemm_bf16_nn: out[M, N] = a[M, K] * b[K, N]     (`dy W` of a backward, W read as [K, N])
// Built from mma.sync m16n8k16, ldmatrix (plain for nt, .trans for nn) and cp.async
// (kernels/cuda/ptx.cuh); the first kernels the emulation harness runs end to end, and its
// benchmark.
//
// Does not hold: epilogues (bias, scaling, accumulation into out), other input types, or the
// cuBLASLt path the backend may prefer for large frozen-weight products.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace slm::cuda {

// Row-major operands with leading dimensions in elements. Any M, N, K >= 0; the 16-byte
// cp.async path is taken when lda and ldb are multiples of 8 and a, b are 16-byte aligned,
// element loads otherwise.
struct GemmParams {
  const __nv_bfloat16* a = nullptr;  // [M, lda]
  const __nv_bfloat16* b = nullptr;  // [N, ldb] for gemm_bf16_nt, [K, ldb] for gemm_bf16_nn
  float* out = nullptr;              // [M, ldo], overwritten
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldo = 0;
};

// The tile shapes the launcher offers: large (64x64x32 per block, 4 warps of 32x32, 3 stages)
// and small (32x32x16, 4 warps of 16x16, 2 stages; many blocks on tiny shapes, used by tests).
enum class GemmTile { large, small };

// Both overwrite p.out. Enqueued on `stream`.
void gemm_bf16_nt(const GemmParams& p, GemmTile tile, cudaStream_t stream);
void gemm_bf16_nn(const GemmParams& p, GemmTile tile, cudaStream_t stream);

}  // namespace slm::cuda
