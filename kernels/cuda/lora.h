// lora.h — the LoRA side path of a linear layer on the GPU, fused (CUDA twins of lora_forward and
// lora_backward in kernels/cpu/lora.h: same meaning of every argument, fp32 in and out, plus a
// stream):
//   y = x W^T + scale * (dropout(x) A^T) B^T      (PEFT's order: dropout on the input of A only)
// The frozen product x W^T and its input gradient dy W come from the base GEMMs; these ops add the
// adapter's part on top of them.
// x and dy may be fp32 or bf16 (`input`; the activations the base GEMMs read), converted to fp32
// where they are loaded; everything else is fp32 and every sum is accumulated in fp32.
// Does not hold: the frozen path, DoRA's magnitudes, merging, allocation, bf16 adapters or
// bf16 outputs.
//
// Letters: M tokens, K input features, N output features, r the adapter rank (1..128).
// A is lora_A.weight [r, K], B is lora_B.weight [N, r] (PEFT's shapes), scale = alpha / r (or
// alpha / sqrt(r) with rsLoRA). All matrices row-major and dense (leading dimension = width).
//
// Dropout, two sources of the same [M, K] mask of 0 and 1 / (1 - p) values:
//   - `mask`: a buffer [M, K], as the CPU twin takes it;
//   - `hash` (when mask == nullptr and hash.active()): the counter-based hash the CPU training
//     step draws its masks from (LoraTrainStep::dropout_mask in train/model/llama_train.cpp):
//     element (t, c) is dropped when (mix(base + t * K + c) >> 11) * 2^-53 < p, mix being
//     splitmix64's finalizer; computed in the kernels, so no mask is stored or read.
// Forward and backward must be given the same mask. No scratch [M, K] is needed.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/workspace_sizes.h"

namespace slm::cuda {

// The element type of x and dy.
enum class LoraInput { f32, bf16 };

// Rows of x (forward) or dy (backward) per block of the row kernels: 32 while 64-row blocks would
// not fill a large GPU (automatic), or fixed (tests take both; rank > 64 always takes 32).
enum class LoraRowTile { automatic, rows32, rows64 };

// The in-kernel dropout hash. `base` is the per-(micro-batch, layer, slot) value the CPU step
// computes; threshold = ceil(p * 2^53) (an element is dropped when (mix(base + i) >> 11) <
// threshold, exactly the CPU's double comparison), keep = 1 / (1 - p). threshold 0: no dropout.
struct LoraDropoutHash {
  std::uint64_t base = 0;
  std::uint64_t threshold = 0;
  float keep = 1.0f;
  bool active() const { return threshold != 0; }
};

// The hash for dropout probability p (0 <= p < 1) and the CPU step's per-call base.
LoraDropoutHash lora_dropout_hash(std::uint64_t base, double p);

// y[M, N] += scale * xa[M, r] B[N, r]^T, where xa = (x[M, K] * mask) A[r, K]^T.
// Accumulates onto y; overwrites xa, which the caller keeps for lora_backward. One kernel: each
// block takes 32 or 64 rows of x once, forms their xa in shared memory and sweeps y's columns
// with it, so x A^T is computed once and y is read and written once.
struct LoraForwardParams {
  float* y = nullptr;         // [M, N]   +=
  const void* x = nullptr;    // [M, K]   float or __nv_bfloat16 (input)
  const float* a = nullptr;   // [r, K]
  const float* b = nullptr;   // [N, r]
  float* xa = nullptr;        // [M, r]   overwritten
  std::int64_t m = 0, n = 0, k = 0, r = 0;
  float scale = 1.0f;
  const float* mask = nullptr;  // [M, K] or nullptr
  LoraDropoutHash hash;         // used when mask == nullptr
  LoraInput input = LoraInput::f32;
  LoraRowTile row_tile = LoraRowTile::automatic;
};

// Given dy [M, N] and the forward's x, A, B, xa (and the same mask), with g = dy B [M, r]:
//   g[M, r]   = dy B                           overwritten (scratch the caller provides)
//   da[r, K] += scale * g^T (x * mask)         accumulates
//   db[N, r] += scale * dy^T xa                accumulates
//   dx[M, K] += scale * (g A) * mask           accumulates onto the frozen path's dx; dx may be
//                                              nullptr when the input needs no gradient
// The products stay low-rank (B A [N, K] is never formed): M N r for g and for db, M K r for da
// and for dx. Two kernels: one over row blocks (g, then dx from g in shared memory), one over
// column blocks of db and da reducing over M. Without a workspace each block reduces all of M;
// with one, M is split into ranges (as many as fill a large GPU) whose sums a third kernel adds
// in order. Deterministic either way (no atomics; the split depends only on M, N, K), but the
// two ways round differently. dx must not alias x or dy.
struct LoraBackwardParams {
  float* da = nullptr;         // [r, K]   +=
  float* db = nullptr;         // [N, r]   +=
  float* dx = nullptr;         // [M, K]   += (or nullptr)
  float* g = nullptr;          // [M, r]   overwritten
  const void* dy = nullptr;    // [M, N]   float or __nv_bfloat16 (input)
  const void* x = nullptr;     // [M, K]   float or __nv_bfloat16 (input)
  const float* a = nullptr;    // [r, K]
  const float* b = nullptr;    // [N, r]
  const float* xa = nullptr;   // [M, r]   from lora_forward
  std::int64_t m = 0, n = 0, k = 0, r = 0;
  float scale = 1.0f;
  const float* mask = nullptr;  // [M, K] or nullptr
  LoraDropoutHash hash;         // used when mask == nullptr
  LoraInput input = LoraInput::f32;
  LoraRowTile row_tile = LoraRowTile::automatic;
  float* workspace = nullptr;   // lora_backward_workspace_floats(M, N, K, r) floats, or nullptr
};

// lora_backward_workspace_floats(M, N, K, r): the floats of workspace lora_backward can use to
// split M (0: it would not split these shapes); in kernels/cuda/workspace_sizes.h.

// Both enqueued on `stream`. Any M >= 0, N, K >= 1, 1 <= r <= 128.
void lora_forward(const LoraForwardParams& p, cudaStream_t stream);
void lora_backward(const LoraBackwardParams& p, cudaStream_t stream);

}  // namespace slm::cuda
