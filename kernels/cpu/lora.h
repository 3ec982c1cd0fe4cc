// lora.h — the LoRA side path of a linear layer, forward and backward, on the CPU:
//   y = x W^T + scale * (dropout(x) A^T) B^T      (PEFT's order: dropout on the input of A only)
// The frozen product x W^T and its input gradient dy W are matmul_nt / matmul_nn; these ops add
// the adapter's part on top of them. Does not hold: the frozen path, merging, or allocation.
//
// Letters: M tokens, K input features, N output features, r the adapter rank.
// A is lora_A.weight [r, K], B is lora_B.weight [N, r] (PEFT's shapes), scale = alpha / r (or
// alpha / sqrt(r) with rsLoRA).
//
// Dropout: `mask` is nullptr (no dropout, or evaluation) or [M, K] of 0 and 1 / (1 - p) values
// drawn by the caller for this step; forward and backward must get the same mask. With a mask,
// the ops need `masked_x` scratch of M * K floats (unused, may be nullptr, without a mask).
#pragma once

#include <cstdint>

namespace slm::cpu {

// y[M, N] += scale * xa[M, r] B[N, r]^T, where xa = (x[M, K] * mask) A[r, K]^T.
// Accumulates onto y (which holds the frozen product already); overwrites xa, which the caller
// keeps for lora_backward. masked_x: scratch [M, K] when mask != nullptr.
void lora_forward(float* y, const float* x, const float* a, const float* b, float scale, float* xa,
                  std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t r,
                  const float* mask = nullptr, float* masked_x = nullptr);

// Given dy [M, N] and the forward's x [M, K], A, B, xa [M, r] (and the same mask), with
// g = dy B [M, r]:
//   da[r, K] += scale * g^T (x * mask)        accumulates
//   db[N, r] += scale * dy^T xa               accumulates
//   dx[M, K] += scale * (g A) * mask          accumulates onto the frozen path's dx; dx may be
//                                             nullptr when the input needs no gradient
// Scratch: g [M, r] always; masked_x [M, K] when mask != nullptr. dx must not alias x.
void lora_backward(float* da, float* db, float* dx, const float* dy, const float* x, const float* a,
                   const float* b, const float* xa, float scale, std::int64_t m, std::int64_t n, std::int64_t k,
                   std::int64_t r, float* g, const float* mask = nullptr, float* masked_x = nullptr);

}  // namespace slm::cpu
