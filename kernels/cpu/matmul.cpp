// matmul.cpp — the linear-layer product through OpenBLAS's cblas_sgemm (row-major).
#include "kernels/cpu/matmul.h"

#include <cblas.h>  // OpenBLAS

namespace slm::cpu {

void matmul_nt(float* out, const float* a, const float* b, std::int64_t m, std::int64_t n, std::int64_t k,
               float beta) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(k), b, static_cast<blasint>(k), beta, out,
              static_cast<blasint>(n));
}

}  // namespace slm::cpu
