// attention.h — fused causal attention forward for training on tensor cores, in the
// FlashAttention-2 manner: the CUDA twin of slm::cpu::attention_forward_train
// (kernels/cpu/attention_backward.h), with the same layouts, masks and log-sum-exp.
//
// Letters: T tokens of one packed row, H query heads, G key/value heads (H % G == 0; query head
// h reads kv head h / (H / G), K and V are never repeated), E head_dim (64, 128 or 256).
//
// Visibility (as the CPU twin): query t sees key j iff j <= t, both are in the same document of
// cu_seqlens, and (window > 0) t - j < window.
//
// Does not hold: the backward (a later kernel), the KV-cached inference forward.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace slm::cuda {

// The 16-bit floating-point type of q, k, v (and of out_half).
enum class AttentionInput { bf16, f16 };

// Device pointers; q, k, v, out and out_half 16-byte aligned.
struct AttentionParams {
  const void* q = nullptr;    // [T, H, E] bf16 or f16
  const void* k = nullptr;    // [T, G, E] same type
  const void* v = nullptr;    // [T, G, E] same type
  float* out = nullptr;       // [T, H, E] fp32, overwritten; may be nullptr if out_half is set
  void* out_half = nullptr;   // [T, H, E] in the input type (what the o_proj GEMM reads), overwritten; may be nullptr
  float* lse = nullptr;       // [T, H] log(sum_j exp(scale * q_t . k_j)) over visible keys, overwritten
  const std::int32_t* cu_seqlens = nullptr;  // [n_docs + 1] on the device, or nullptr for one document
  int t = 0, h = 0, g = 0, e = 0;
  int n_docs = 1;        // documents in cu_seqlens (ignored when cu_seqlens is nullptr)
  int max_doc_len = 0;   // longest document (host-side; sizes the grid); T when cu_seqlens is nullptr
  int window = 0;        // sliding window (0: none)
  float scale = 0.0f;    // softmax scale, usually 1 / sqrt(E)
  // false: P enters P V rounded to the input type (FlashAttention-2; what training uses). true: as
  // three rounded pieces, P to about fp32 accuracy for 3x the P V tensor work (checks, tests).
  bool exact_probabilities = false;
};

// out = softmax(q k^T * scale + mask) v per head, and lse, for E in {64, 128, 256}. Accumulates in
// fp32; the probabilities enter the P V product rounded to the input type (as FlashAttention-2
// does) unless p.exact_probabilities. Enqueued on `stream`; throws slm::Error for unsupported shapes or misaligned pointers.
void attention_forward_train(const AttentionParams& p, AttentionInput type, cudaStream_t stream);

}  // namespace slm::cuda
