// matmul.h — dense products on the CPU (OpenBLAS sgemm underneath).
//
// Letters: M rows of the left operand (tokens), N output features, K input features.
#pragma once

#include <cstdint>

namespace slm::cpu {

// out[M, N] = beta * out + a[M, K] * b[N, K]^T   (the linear layer: b is a weight [out, in]).
// beta = 0 overwrites out; beta = 1 accumulates into it.
void matmul_nt(float* out, const float* a, const float* b, std::int64_t m, std::int64_t n, std::int64_t k,
               float beta = 0.0f);

}  // namespace slm::cpu
