// elementwise.h — the small ops of the CUDA training step that are copies or one flop per
// element: the fp32 -> bf16 cast, the residual add (CUDA twin of add_inplace in
// kernels/cpu/layers.h) and the embedding lookup (CUDA twin of embedding_forward there: same
// argument meaning, fp32, plus a device error slot and a stream).
// Does not hold: SwiGLU and GeGLU (swiglu.h, geglu.h), casts to other types, bf16 tables.
//
// Letters: T tokens, D hidden size, V vocab.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace slm::cuda {

// out[i] = x[i] rounded to bf16, nearest even, for i < n (overwrites). Finite values, infinities
// and denormals get the bits of the host conversion (checkpoints/dtype.h fp32_to_bf16); a NaN
// stays a NaN (on the GPU the canonical 0x7FFF, the harness keeps the payload as the host does).
// out must not overlap x. max_blocks limits the grid (0: the launcher's; tests set it so that
// threads take several elements).
void cast_to_bf16(__nv_bfloat16* out, const float* x, std::int64_t n, cudaStream_t stream, int max_blocks = 0);

// x[i] += y[i] for i < n (accumulates): the residual add, the same bits as the CPU twin. y may
// equal x (doubles it); partial overlap is not allowed.
void add_inplace(float* x, const float* y, std::int64_t n, cudaStream_t stream, int max_blocks = 0);

// out[T, D] = table[ids[t], :]                                                       overwrites
//   (table fp32, or table_bf16: its rows converted to fp32, exactly; exactly one of them is set)
// *invalid_at = the first position t whose id is outside [0, V), or -1                overwrites
// A bad id cannot throw on the device: its row of out is written as zeros, and the caller
// checks *invalid_at after its next synchronization and fails as the CPU twin does ("token id
// ... at position ... is outside the vocabulary"). The smallest bad position is reported
// whatever the schedule (an atomic minimum), so the result is deterministic.
// All pointers are device memory; out must not overlap table or ids. T >= 0, D >= 1, V >= 0.
struct EmbeddingParams {
  float* out = nullptr;                 // [T, D]
  const float* table = nullptr;         // [V, D]
  const __nv_bfloat16* table_bf16 = nullptr;  // [V, D], instead of table
  const std::int32_t* ids = nullptr;    // [T]
  std::int64_t* invalid_at = nullptr;   // [1]
  std::int64_t t = 0, d = 0, v = 0;
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
};

// Enqueued on `stream`: *invalid_at set to -1 (a memset), then one kernel over the T * D
// elements (four per thread when D % 4 == 0, out is 16-byte and the table 16-byte (fp32) or
// 8-byte (bf16) aligned),
// grid-stride.
void embedding_forward(const EmbeddingParams& p, cudaStream_t stream);

}  // namespace slm::cuda
