// cublaslt.cpp — the cuBLASLt stand-ins of cublaslt.h: descriptors are plain records; a matmul
// widens A, B (and C) to column-major fp32 through their layouts (order, leading dimension,
// batch stride), multiplies with OpenBLAS sgemm, adds the bias epilogue and narrows into D.
// Does not hold: algorithm selection (one algorithm, no workspace), asynchrony.
#include "kernels/emu/cublaslt.h"

#include <cblas.h>  // OpenBLAS

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/emu/blas_common.h"

struct cublasLtContext {
  int unused = 0;
};
struct cublasLtMatmulDescOpaque {
  cublasOperation_t transa = CUBLAS_OP_N;
  cublasOperation_t transb = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
};
struct cublasLtMatrixLayoutOpaque {
  cudaDataType_t type;
  std::uint64_t rows, cols;
  std::int64_t ld;
  cublasLtOrder_t order = CUBLASLT_ORDER_COL;
  int batch = 1;
  std::int64_t stride = 0;
};
struct cublasLtMatmulPreferenceOpaque {
  std::size_t workspace = 0;
};

namespace {

using slm::emu::blas::element_bytes;
using slm::emu::blas::load;
using slm::emu::blas::store;
using slm::emu::blas::supported;

std::size_t at(const cublasLtMatrixLayoutOpaque& l, std::size_t i, std::size_t j) {
  return l.order == CUBLASLT_ORDER_COL ? j * static_cast<std::size_t>(l.ld) + i : i * static_cast<std::size_t>(l.ld) + j;
}

// Batch `b` of a matrix as dense column-major fp32 [rows x cols].
std::vector<float> widen(const void* base, const cublasLtMatrixLayoutOpaque& l, int b) {
  const auto* batch = static_cast<const char*>(base) + static_cast<std::size_t>(b) * l.stride * element_bytes(l.type);
  std::vector<float> out(l.rows * l.cols);
  for (std::size_t j = 0; j < l.cols; ++j)
    for (std::size_t i = 0; i < l.rows; ++i) out[j * l.rows + i] = load(batch, l.type, at(l, i, j));
  return out;
}

template <typename T>
cublasStatus_t set(T& field, const void* value, std::size_t bytes) {
  if (bytes != sizeof(T) || !value) return CUBLAS_STATUS_INVALID_VALUE;
  std::memcpy(&field, value, sizeof(T));
  return CUBLAS_STATUS_SUCCESS;
}

bool layout_ok(const cublasLtMatrixLayoutOpaque& l) {
  const std::uint64_t inner = l.order == CUBLASLT_ORDER_COL ? l.rows : l.cols;
  return supported(l.type) && l.ld >= static_cast<std::int64_t>(std::max<std::uint64_t>(inner, 1)) && l.batch >= 1;
}

}  // namespace

std::size_t cublasLtGetVersion() { return 0; }  // the emulation's, not a library's

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  *handle = new (std::nothrow) cublasLtContext;
  return *handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t, cudaDataType_t scale) {
  if (scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *desc = new (std::nothrow) cublasLtMatmulDescOpaque;
  return *desc ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete desc;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute,
                                              const void* value, std::size_t bytes) {
  switch (attribute) {
    case CUBLASLT_MATMUL_DESC_TRANSA: return set(desc->transa, value, bytes);
    case CUBLASLT_MATMUL_DESC_TRANSB: return set(desc->transb, value, bytes);
    case CUBLASLT_MATMUL_DESC_EPILOGUE: {
      const cublasStatus_t status = set(desc->epilogue, value, bytes);
      if (status != CUBLAS_STATUS_SUCCESS) return status;
      return desc->epilogue == CUBLASLT_EPILOGUE_DEFAULT || desc->epilogue == CUBLASLT_EPILOGUE_BIAS
                 ? CUBLAS_STATUS_SUCCESS
                 : CUBLAS_STATUS_NOT_SUPPORTED;
    }
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return set(desc->bias, value, bytes);
  }
  return CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType_t type, std::uint64_t rows,
                                          std::uint64_t cols, std::int64_t ld) {
  *layout = new (std::nothrow) cublasLtMatrixLayoutOpaque{type, rows, cols, ld};
  return *layout ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete layout;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attribute,
                                                const void* value, std::size_t bytes) {
  switch (attribute) {
    case CUBLASLT_MATRIX_LAYOUT_ORDER: {
      std::int32_t order = 0;
      const cublasStatus_t status = set(order, value, bytes);
      layout->order = static_cast<cublasLtOrder_t>(order);
      return status;
    }
    case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT: return set(layout->batch, value, bytes);
    case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET: return set(layout->stride, value, bytes);
  }
  return CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* preference) {
  *preference = new (std::nothrow) cublasLtMatmulPreferenceOpaque;
  return *preference ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t preference) {
  delete preference;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t preference,
                                                    cublasLtMatmulPreferenceAttributes_t attribute, const void* value,
                                                    std::size_t bytes) {
  if (attribute != CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) return CUBLAS_STATUS_NOT_SUPPORTED;
  std::uint64_t workspace = 0;
  const cublasStatus_t status = set(workspace, value, bytes);
  preference->workspace = workspace;
  return status;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int requested,
                                              cublasLtMatmulHeuristicResult_t* results, int* returned) {
  if (!handle || !desc || requested < 1) return CUBLAS_STATUS_INVALID_VALUE;
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* a,
                              cublasLtMatrixLayout_t a_layout, const void* b, cublasLtMatrixLayout_t b_layout,
                              const void* beta, const void* c, cublasLtMatrixLayout_t c_layout, void* d,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t*, void*, std::size_t,
                              cudaStream_t) {
  if (!handle || !desc) return CUBLAS_STATUS_NOT_INITIALIZED;
  const auto &la = *a_layout, &lb = *b_layout, &lc = *c_layout, &ld = *d_layout;
  if (!layout_ok(la) || !layout_ok(lb) || !layout_ok(lc) || !layout_ok(ld)) return CUBLAS_STATUS_INVALID_VALUE;
  const bool ta = desc->transa != CUBLAS_OP_N, tb = desc->transb != CUBLAS_OP_N;
  const std::uint64_t m = ld.rows, n = ld.cols, k = ta ? la.rows : la.cols;
  if ((ta ? la.cols : la.rows) != m || (tb ? lb.cols : lb.rows) != k || (tb ? lb.rows : lb.cols) != n ||
      lc.rows != m || lc.cols != n)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (desc->epilogue == CUBLASLT_EPILOGUE_BIAS && !desc->bias) return CUBLAS_STATUS_INVALID_VALUE;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (int batch = 0; batch < ld.batch; ++batch) {
    std::vector<float> wc(m * n, 0.0f);
    if (be != 0.0f) wc = widen(c, lc, lc.batch > 1 ? batch : 0);  // beta 0 ignores C (it may hold NaN)
    if (m > 0 && n > 0 && k > 0) {
      const std::vector<float> wa = widen(a, la, la.batch > 1 ? batch : 0);
      const std::vector<float> wb = widen(b, lb, lb.batch > 1 ? batch : 0);
      cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                  static_cast<int>(n), static_cast<int>(k), al, wa.data(), static_cast<int>(std::max<std::uint64_t>(la.rows, 1)),
                  wb.data(), static_cast<int>(std::max<std::uint64_t>(lb.rows, 1)), be, wc.data(), static_cast<int>(m));
    } else {
      for (float& v : wc) v *= be;
    }
    auto* out = static_cast<char*>(d) + static_cast<std::size_t>(batch) * ld.stride * element_bytes(ld.type);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t i = 0; i < m; ++i) {
        float v = wc[j * m + i];
        if (desc->epilogue == CUBLASLT_EPILOGUE_BIAS) v += load(desc->bias, ld.type, i);  // one bias per row of D
        store(out, ld.type, at(ld, i, j), v);
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}
