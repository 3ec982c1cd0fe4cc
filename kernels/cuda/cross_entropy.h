// cross_entropy.h — the fused, chunked lm_head + softmax cross-entropy of training, forward and
// backward in one pass, on the GPU (CUDA twin of cross_entropy_forward_backward in
// kernels/cpu/cross_entropy.h: same argument meaning and shapes, fp32, plus device outputs, a
// workspace and a stream). Logits exist only for `chunk` rows at a time, never [T, V]; nothing
// is sized by V in shared memory, so any vocabulary below 2^31 works (262k included).
// Two variants: fp32 (x and w fp32, fp32 SIMT products: the CPU twin's numbers) and bf16 (w bf16,
// x rounded to bf16, tensor-core products from gemm_mma.h; the gradient of the logits enters the
// dx product as three bf16 pieces, so dx keeps fp32-level accuracy for the rounded inputs).
// Does not hold: the lm_head of inference, loss normalization (the caller's, as on the CPU).
//
// Letters: T tokens, D hidden size, V vocab, C chunk rows, S split-K slices of the dx product.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/gemm_mma.h"  // GemmTile
#include "kernels/cuda/workspace_sizes.h"

namespace slm::cuda {

// Tile shapes of the chunk's two fp32 products: large (128 x 128 per block, 8 x 8 per thread)
// and small (32 x 32, 4 x 4 per thread; many blocks on tiny shapes, used by tests).
enum class CrossEntropyTile { large, small };

// For the final normed hidden x [T, D], the lm_head weight w [V, D] and targets [T] (the CPU's
// k_ignore_index, or an id in [0, V)), with logits z = x w^T and p = softmax(z) per row:
//   *loss_sum  = sum over non-ignored rows of (logsumexp(z_t) - z_t[target_t])    overwrites
//   dx[T, D]   = grad_scale * (p_t - onehot(target_t)) w  for non-ignored rows;    overwrites
//                0 for ignored rows
//   *counted   = the number of non-ignored rows                                     overwrites
//   *invalid_at = the first position whose target is neither the ignore index nor in [0, V),
//                 or -1. Such rows count as ignored (no loss, dx 0); the caller checks this
//                 after its next synchronization and fails as the CPU twin does.   overwrites
// All pointers are device memory. Non-ignored rows are gathered in order, C at a time (C need
// not divide T), so ignored rows cost nothing but their zeroed dx. The per-row losses are
// summed in double in row order by one block: the result has the same bits on every run.
// x and dx must not alias.
struct CrossEntropyParams {
  double* loss_sum = nullptr;           // [1]
  std::int64_t* counted = nullptr;      // [1]
  std::int64_t* invalid_at = nullptr;   // [1]
  float* dx = nullptr;                  // [T, D]
  const float* x = nullptr;             // [T, D]
  const float* w = nullptr;             // [V, D]
  const std::int32_t* targets = nullptr;  // [T]
  std::int64_t t = 0, d = 0, v = 0;
  std::int64_t chunk = 1024;            // C: rows of logits alive at once (C * V floats)
  float grad_scale = 1.0f;
  void* workspace = nullptr;            // cross_entropy_workspace_bytes(*this) bytes, 16-byte aligned
  CrossEntropyTile tile = CrossEntropyTile::large;
};

// Bytes of device workspace the call needs: about C * V + S * C * D floats (S <= 16) plus 16
// bytes per token. Depends on t, d, v, chunk and tile only.
std::size_t cross_entropy_workspace_bytes(const CrossEntropyParams& p);

// Enqueued on `stream`: a compaction of the targets, then per chunk the logits product, the
// row-wise softmax (online max and sum of exponentials, then the gradient in place) and the dx
// product (split over V with a fixed-order reduction of the slices), then the loss sum.
// Any T >= 0, D >= 1, V >= 1, chunk >= 1.
void cross_entropy_forward_backward(const CrossEntropyParams& p, cudaStream_t stream);

// The bf16 variant: the same outputs and meaning, with w in bf16 and the products on tensor cores
// (x rows are gathered and rounded to bf16, logits accumulate in fp32). The dx product runs as
// 3 * S bf16 GEMMs (three pieces hi + mid + lo of the logits' gradient, S slices of V) added in
// a fixed order. gemm_bf16_* take their row count on the host, so every chunk of T is
// multiplied at full size: chunks past the non-ignored rows multiply zero rows (the fp32 variant
// skips them).
struct CrossEntropyBf16Params {
  double* loss_sum = nullptr;             // [1]
  std::int64_t* counted = nullptr;        // [1]
  std::int64_t* invalid_at = nullptr;     // [1]
  float* dx = nullptr;                    // [T, D]
  const float* x = nullptr;               // [T, D]
  const __nv_bfloat16* w = nullptr;       // [V, D]
  const std::int32_t* targets = nullptr;  // [T]
  std::int64_t t = 0, d = 0, v = 0;
  std::int64_t chunk = 1024;
  float grad_scale = 1.0f;
  void* workspace = nullptr;              // cross_entropy_bf16_workspace_bytes(*this) bytes, 16-byte aligned
  GemmTile tile = GemmTile::large;
};

// About C * V * (4 + 3 * 2) + 3 * S * C * D * 4 bytes plus 16 per token.
std::size_t cross_entropy_bf16_workspace_bytes(const CrossEntropyBf16Params& p);
void cross_entropy_forward_backward_bf16(const CrossEntropyBf16Params& p, cudaStream_t stream);

}  // namespace slm::cuda
