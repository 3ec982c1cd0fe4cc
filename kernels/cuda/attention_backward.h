// attention_backward.h — fused causal attention backward on tensor cores (FlashAttention-2
// manner, deterministic: no atomics), the CUDA twin of slm::cpu::attention_backward
// (kernels/cpu/attention_backward.h), with the same layouts, masks and formulas:
//   P = exp(scale * q k^T - lse), dP = dout v^T, delta = rowsum(dout * out), dS = P * (dP - delta)
//   dq = scale * dS k,  dk = scale * dS^T q,  dv = P^T dout
//
// Letters: T tokens of one packed row, H query heads, G key/value heads (H % G == 0), E head_dim
// (64, 128 or 256).
//
// Does not hold: the forward (attention.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/attention.h"  // AttentionInput

namespace slm::cuda {

// Device pointers; q, k, v, out, dout 16-byte aligned; masks as in AttentionParams.
struct AttentionBackwardParams {
  const void* q = nullptr;     // [T, H, E] bf16 or f16
  const void* k = nullptr;     // [T, G, E]
  const void* v = nullptr;     // [T, G, E]
  const void* out = nullptr;   // [T, H, E] the forward's out_half (read for delta unless out_fp32 is set)
  const float* out_fp32 = nullptr;  // [T, H, E] optional: the forward's fp32 out, a more accurate delta
  const void* dout = nullptr;  // [T, H, E] same type
  const float* lse = nullptr;  // [T, H] the forward's
  float* delta = nullptr;      // [T, H] scratch: rowsum(dout * out), overwritten
  float* dq = nullptr;         // [T, H, E] overwritten
  float* dk = nullptr;         // [T, G, E] overwritten (sums over the H / G query heads of each kv head)
  float* dv = nullptr;         // [T, G, E] overwritten (likewise)
  const std::int32_t* cu_seqlens = nullptr;  // [n_docs + 1] on the device, or nullptr
  int t = 0, h = 0, g = 0, e = 0;
  int n_docs = 1, max_doc_len = 0, window = 0;
  float scale = 0.0f;
};

// Three kernels on `stream`: delta, then dk and dv (a block per BN keys of one kv head, looping
// over the queries and the query heads that see them), then dq (a block per BM queries of one
// head, looping over keys). Every output element is written by one thread: bitwise repeatable.
// Throws slm::Error for unsupported shapes or misaligned pointers.
// exact_probabilities, as AttentionParams::exact_probabilities: P and dS enter their products as
// three rounded pieces (about fp32 accuracy, 3x the work of those products) instead of rounded
// once; head dims 64 and 128 only. (An argument, not a Params field: one more field in the kernels' by-value parameter made
// ptxas spill the head-dim-256 dQ kernel.)
void attention_backward(const AttentionBackwardParams& p, AttentionInput type, cudaStream_t stream,
                        bool exact_probabilities = false);

}  // namespace slm::cuda
