// cublas.cpp — the cuBLAS stand-ins of cublas.h: column-major GEMMs widened to fp32 and computed
// by OpenBLAS (its OpenMP build, the CPU kernels' own), results narrowed to the output type.
// Does not hold: anything asynchronous (streams are recorded only).
#include "kernels/emu/cublas.h"

#include <cblas.h>  // OpenBLAS

#include <algorithm>
#include <new>
#include <vector>

#include "kernels/emu/blas_common.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace {

using slm::emu::blas::element_bytes;
using slm::emu::blas::load;
using slm::emu::blas::store;
using slm::emu::blas::supported;

// A column-major matrix of `rows` x `cols` (as stored) widened to a dense fp32 copy.
std::vector<float> widen(const void* m, cudaDataType_t type, int rows, int cols, int ld) {
  std::vector<float> out(static_cast<std::size_t>(rows) * cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i)
      out[static_cast<std::size_t>(j) * rows + i] = load(m, type, static_cast<std::size_t>(j) * ld + i);
  return out;
}

CBLAS_TRANSPOSE cblas_op(cublasOperation_t op) { return op == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }

cublasStatus_t gemm_one(cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, float alpha,
                        const void* a, cudaDataType_t a_type, int lda, const void* b, cudaDataType_t b_type, int ldb,
                        float beta, void* c, cudaDataType_t c_type, int ldc) {
  const int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  const int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  if (m < 0 || n < 0 || k < 0 || lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) ||
      ldc < (m > 1 ? m : 1))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const std::vector<float> wa = widen(a, a_type, a_rows, a_cols, lda);
  const std::vector<float> wb = widen(b, b_type, b_rows, b_cols, ldb);
  std::vector<float> wc = widen(c, c_type, m, n, ldc);
  if (beta == 0.0f) std::fill(wc.begin(), wc.end(), 0.0f);  // C may hold NaN: beta 0 ignores it
  if (k > 0)
    cblas_sgemm(CblasColMajor, cblas_op(transa), cblas_op(transb), m, n, k, alpha, wa.data(), a_rows > 0 ? a_rows : 1,
                wb.data(), b_rows > 0 ? b_rows : 1, beta, wc.data(), m);
  else
    for (float& v : wc) v *= beta;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i)
      store(c, c_type, static_cast<std::size_t>(j) * ldc + i, wc[static_cast<std::size_t>(j) * m + i]);
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new (std::nothrow) cublasContext;
  return *handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetVersion(cublasHandle_t, int* version) {
  *version = 0;  // the emulation's, not a library's
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
  }
  return "unknown error";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* a, int lda, const float* b, int ldb,
                           const float* beta, float* c, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  return gemm_one(transa, transb, m, n, k, *alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, *beta, c, CUDA_R_32F, ldc);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* a, cudaDataType_t a_type, int lda, const void* b,
                            cudaDataType_t b_type, int ldb, const void* beta, void* c, cudaDataType_t c_type, int ldc,
                            cublasComputeType_t, cublasGemmAlgo_t) {
  return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, a, a_type, lda, 0, b, b_type, ldb, 0,
                                    beta, c, c_type, ldc, 0, 1, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float* alpha, const float* a, int lda,
                                         long long stride_a, const float* b, int ldb, long long stride_b,
                                         const float* beta, float* c, int ldc, long long stride_c, int batches) {
  return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, a, CUDA_R_32F, lda, stride_a, b,
                                    CUDA_R_32F, ldb, stride_b, beta, c, CUDA_R_32F, ldc, stride_c, batches,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

// Scalars alpha and beta are fp32 (the compute types here are all 32F).
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void* alpha, const void* a,
                                          cudaDataType_t a_type, int lda, long long stride_a, const void* b,
                                          cudaDataType_t b_type, int ldb, long long stride_b, const void* beta,
                                          void* c, cudaDataType_t c_type, int ldc, long long stride_c, int batches,
                                          cublasComputeType_t, cublasGemmAlgo_t) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!supported(a_type) || !supported(b_type) || !supported(c_type)) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (batches < 0) return CUBLAS_STATUS_INVALID_VALUE;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (int i = 0; i < batches; ++i) {
    const cublasStatus_t status =
        gemm_one(transa, transb, m, n, k, al, static_cast<const char*>(a) + i * stride_a * element_bytes(a_type), a_type,
                 lda, static_cast<const char*>(b) + i * stride_b * element_bytes(b_type), b_type, ldb, be,
                 static_cast<char*>(c) + i * stride_c * element_bytes(c_type), c_type, ldc);
    if (status != CUBLAS_STATUS_SUCCESS) return status;
  }
  return CUBLAS_STATUS_SUCCESS;
}
