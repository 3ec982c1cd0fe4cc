// blaslt_gemm.h — cuBLASLt GEMMs with bf16 inputs and fp32 output for the frozen base weights:
//   nt: out[M, N] = x[M, K] w[N, K]^T + beta * out    (the forward `x W^T`)
//   nn: out[M, K] = dy[M, N] w[N, K]   + beta * out    (the backward input gradient `dy W`)
// W is stored [out, in] = [N, K] as in HF files, and (n, k) name W's shape in both calls, so the
// forward and the backward through one weight pass the same n and k. Row-major operands, dense
// (leading dimension = row length). fp32 compute (CUBLAS_COMPUTE_32F) and scale, bf16 A and B,
// fp32 C = D = out (in place).
//
// BlasLtGemm owns a cuBLASLt handle, one device workspace (sized at construction, allocated
// once) and a cache of matmul descriptors, matrix layouts and the heuristic's algorithm per
// (kind, shape, pointer alignment), so a repeated shape creates no descriptor and queries no
// heuristic. Host code only (kernels/cuda/blaslt_gemm.cu has no kernels); the g++ build runs on
// the cuBLASLt stand-in (kernels/emu/cublaslt.h).
//
// Does not hold: the tensor-core GEMM kernels of our own (gemm_mma.h), LoRA's skinny products
// (lora.h), epilogues, other types, strided or batched operands.
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <tuple>

namespace slm::cuda {

class BlasLtGemm {
 public:
  // Creates the handle and allocates `workspace_bytes` of device memory (0: no workspace; the
  // heuristic then offers only algorithms that need none). Throws slm::Error on failure.
  explicit BlasLtGemm(std::size_t workspace_bytes);
  ~BlasLtGemm();
  BlasLtGemm(const BlasLtGemm&) = delete;
  BlasLtGemm& operator=(const BlasLtGemm&) = delete;

  // out[M, N] = x[M, K] w[N, K]^T + beta * out. out is read only when beta != 0.
  void nt(float* out, const __nv_bfloat16* x, const __nv_bfloat16* w, int m, int n, int k, float beta,
          cudaStream_t stream);
  // out[M, K] = dy[M, N] w[N, K] + beta * out (beta 1 accumulates into an existing dx).
  void nn(float* out, const __nv_bfloat16* dy, const __nv_bfloat16* w, int m, int n, int k, float beta,
          cudaStream_t stream);

  // Descriptor sets created (and heuristics queried) so far: one per distinct key.
  std::int64_t cache_misses() const { return misses_; }
  std::size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  enum class Kind { nt, nn };
  // Kind, M, N, K, then the alignment (bytes, up to 256) of out, x or dy, and w: the heuristic
  // chooses an algorithm for the alignment it is told, so a less aligned pointer gets its own entry.
  using Key = std::tuple<Kind, int, int, int, int, int, int>;
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // D shares c's layout
    cublasLtMatmulAlgo_t algo{};
  };

  void run(Kind kind, float* out, const __nv_bfloat16* act, const __nv_bfloat16* w, int m, int n, int k,
           float beta, cudaStream_t stream);
  const Plan& plan(const Key& key);
  static void destroy(Plan& plan);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  std::map<Key, Plan> plans_;
  std::int64_t misses_ = 0;
};

}  // namespace slm::cuda
