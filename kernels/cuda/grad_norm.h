// grad_norm.h — the global gradient norm's sum of squares and the in-place scale over a flat fp32
// gradient arena in device memory (CUDA twins of grad_norm_squared and scale_inplace in
// kernels/cpu/grad_norm.h: same arguments, plus device outputs, a workspace and a stream).
// Does not hold: the clipping policy (the trainer's, as on the CPU), multi-GPU reduction (the
// all-reduce of gradients comes before this), fp16/bf16 gradients.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/workspace_sizes.h"

namespace slm::cuda {

// *norm_squared = sum(g[i]^2) over n floats, written to device memory (overwrites). As on the CPU:
// fp32 sums over blocks of 4096 elements, combined in double. Deterministic: the partition of the
// array over thread blocks depends only on n, and every partial is combined in a fixed order (no
// atomics), so the bits are the same on every run. n = 0 writes 0.
struct GradNormParams {
  double* norm_squared = nullptr;  // [1], device
  const float* g = nullptr;        // [n], device
  std::int64_t n = 0;
  double* workspace = nullptr;     // [grad_norm_workspace_doubles()], device: per-block partials
};

// The doubles GradNormParams::workspace must hold (independent of n).
std::size_t grad_norm_workspace_doubles();

// Enqueued on `stream`: two kernels (block partials, then one block adding them up).
void grad_norm_squared(const GradNormParams& p, cudaStream_t stream);

// g[i] *= s over n floats (overwrites g in place). Enqueued on `stream`.
void scale_inplace(float* g, std::int64_t n, float s, cudaStream_t stream);

}  // namespace slm::cuda
