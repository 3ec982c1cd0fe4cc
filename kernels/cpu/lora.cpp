// lora.cpp — LoRA forward and backward as skinny sgemms (OpenBLAS) plus an elementwise dropout
// mask; the rank-r intermediates are small, so everything is a handful of BLAS calls.
#include "kernels/cpu/lora.h"

#include <cblas.h>  // OpenBLAS

#include "train/core/error.h"

namespace slm::cpu {
namespace {

using I = blasint;

// dst[i] = x[i] * mask[i] for count elements.
void apply_mask(float* dst, const float* x, const float* mask, std::int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) dst[i] = x[i] * mask[i];
}

// The LoRA input: x itself, or x * mask written into masked_x.
const float* lora_input(const float* x, const float* mask, float* masked_x, std::int64_t count) {
  if (mask == nullptr) return x;
  SLM_CHECK(masked_x != nullptr, "lora: a dropout mask needs masked_x scratch of M * K floats");
  apply_mask(masked_x, x, mask, count);
  return masked_x;
}

}  // namespace

void lora_forward(float* y, const float* x, const float* a, const float* b, float scale, float* xa,
                  std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t r, const float* mask,
                  float* masked_x) {
  if (m == 0) return;
  const float* xin = lora_input(x, mask, masked_x, m * k);
  // xa[M, r] = xin[M, K] A[r, K]^T
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, I(m), I(r), I(k), 1.0f, xin, I(k), a, I(k), 0.0f, xa,
              I(r));
  // y[M, N] += scale * xa[M, r] B[N, r]^T
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, I(m), I(n), I(r), scale, xa, I(r), b, I(r), 1.0f, y,
              I(n));
}

void lora_backward(float* da, float* db, float* dx, const float* dy, const float* x, const float* a,
                   const float* b, const float* xa, float scale, std::int64_t m, std::int64_t n, std::int64_t k,
                   std::int64_t r, float* g, const float* mask, float* masked_x) {
  if (m == 0) return;
  // g[M, r] = dy[M, N] B[N, r]
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I(m), I(r), I(n), 1.0f, dy, I(n), b, I(r), 0.0f, g,
              I(r));
  // db[N, r] += scale * dy[M, N]^T xa[M, r]
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, I(n), I(r), I(m), scale, dy, I(n), xa, I(r), 1.0f, db,
              I(r));
  // da[r, K] += scale * g[M, r]^T xin[M, K]
  const float* xin = lora_input(x, mask, masked_x, m * k);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, I(r), I(k), I(m), scale, g, I(r), xin, I(k), 1.0f, da,
              I(k));
  if (dx == nullptr) return;
  if (mask == nullptr) {
    // dx[M, K] += scale * g[M, r] A[r, K]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I(m), I(k), I(r), scale, g, I(r), a, I(k), 1.0f, dx,
                I(k));
    return;
  }
  // masked_x is free again: gA[M, K] = g A there, then dx += scale * gA * mask.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, I(m), I(k), I(r), 1.0f, g, I(r), a, I(k), 0.0f,
              masked_x, I(k));
  const std::int64_t count = m * k;
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) dx[i] += scale * masked_x[i] * mask[i];
}

}  // namespace slm::cpu
