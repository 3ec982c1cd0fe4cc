// gemm_mma.h — a tiled tensor-core GEMM: out[M, N] (fp32) = a[M, K] (bf16) * w[N, K]^T (bf16),
// the shape of `x W^T` with W stored [out, in] as in HF checkpoints. Built from mma.sync
// m16n8k16, ldmatrix and cp.async (kernels/cuda/ptx.cuh); the first kernel the emulation
// harness runs end to end, and its benchmark.
//
// Does not hold: epilogues (bias, scaling, accumulation into out), other input types, or the
// cuBLASLt path the backend may prefer for large frozen-weight products.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace slm::cuda {

// Row-major operands with leading dimensions in elements. Any M, N, K >= 0; the 16-byte
// cp.async path is taken when lda and ldw are multiples of 8 and a, w are 16-byte aligned,
// element loads otherwise.
struct GemmParams {
  const __nv_bfloat16* a = nullptr;  // [M, lda]
  const __nv_bfloat16* w = nullptr;  // [N, ldw]
  float* out = nullptr;              // [M, ldo], overwritten
  int m = 0, n = 0, k = 0;
  int lda = 0, ldw = 0, ldo = 0;
};

// The tile shapes the launcher offers: large (64x64x32 per block, 4 warps of 32x32, 3 stages)
// and small (32x32x16, 4 warps of 16x16, 2 stages; many blocks on tiny shapes, used by tests).
enum class GemmTile { large, small };

// Overwrites p.out. Enqueued on `stream`.
void gemm_bf16_nt(const GemmParams& p, GemmTile tile, cudaStream_t stream);

}  // namespace slm::cuda
