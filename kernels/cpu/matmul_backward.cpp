// matmul_backward.cpp — matmul_nn and matmul_tn through OpenBLAS's cblas_sgemm (row-major).
#include "kernels/cpu/matmul_backward.h"

#include <cblas.h>  // OpenBLAS

#include <algorithm>

namespace slm::cpu {
namespace {

// sgemm with k == 0 leaves beta * out; make that explicit so beta = 0 also clears NaNs.
void scale_or_clear(float* out, std::int64_t count, float beta) {
  if (beta == 0.0f) {
    std::fill(out, out + count, 0.0f);
  } else {
    for (std::int64_t i = 0; i < count; ++i) out[i] *= beta;
  }
}

}  // namespace

void matmul_nn(float* out, const float* a, const float* b, std::int64_t m, std::int64_t n, std::int64_t k,
               float beta) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_or_clear(out, m * n, beta);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(k), b, static_cast<blasint>(n), beta, out,
              static_cast<blasint>(n));
}

void matmul_tn(float* out, const float* a, const float* b, std::int64_t m, std::int64_t n, std::int64_t k,
               float beta) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_or_clear(out, m * n, beta);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(m), b, static_cast<blasint>(n), beta, out,
              static_cast<blasint>(n));
}

}  // namespace slm::cpu
