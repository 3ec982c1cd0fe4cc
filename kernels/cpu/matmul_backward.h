// matmul_backward.h — the two dense products that backward through a linear layer needs, on
// the CPU (OpenBLAS sgemm underneath). The forward product, matmul_nt, is in matmul.h.
//
// Holds: matmul_nn (input gradient through a frozen weight) and matmul_tn (weight gradient,
// used for LoRA's A and B). Does not hold: LoRA itself (lora.h) or any allocation.
//
// Letters: M rows of the output, N output columns, K the contracted dimension. For a linear
// layer y[T, Nout] = x[T, Kin] W[Nout, Kin]^T:
//   dx[T, Kin]    (+)= dy[T, Nout] W[Nout, Kin]      -> matmul_nn(dx, dy, W, T, Kin, Nout, beta)
//   dW[Nout, Kin] (+)= dy[T, Nout]^T x[T, Kin]       -> matmul_tn(dW, dy, x, Nout, Kin, T, beta)
#pragma once

#include <cstdint>

namespace slm::cpu {

// out[M, N] = beta * out + a[M, K] * b[K, N].
// beta = 0 overwrites out (its old contents may be NaN); beta = 1 accumulates into it.
void matmul_nn(float* out, const float* a, const float* b, std::int64_t m, std::int64_t n, std::int64_t k,
               float beta = 0.0f);

// out[M, N] = beta * out + a[K, M]^T * b[K, N].
// beta = 0 overwrites out (its old contents may be NaN); beta = 1 accumulates into it.
void matmul_tn(float* out, const float* a, const float* b, std::int64_t m, std::int64_t n, std::int64_t k,
               float beta = 0.0f);

}  // namespace slm::cpu
