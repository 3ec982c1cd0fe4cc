// attention_backward.h — causal GQA attention for training on the CPU: a forward that also
// keeps the per-row log-sum-exp, and the backward that uses it. Both take packed documents
// (cu_seqlens, as flash-attention does: attention never crosses a document boundary) and an
// optional sliding window. Does not hold: the KV-cached inference forward (attention.h).
//
// Letters: T tokens (positions 0 .. T-1 of one packed row; S == T), H query heads, G key/value
// heads (H % G == 0; query head h reads kv head h / (H / G)), E head_dim, n_docs documents.
//
// Visibility: query t sees key j iff j <= t, j and t are in the same document, and (window > 0)
// t - j < window (HF's sliding window: the query and the window - 1 keys before it).
// cu_seqlens: nullptr (one document) or n_docs + 1 non-decreasing offsets with cu_seqlens[0] = 0
// and cu_seqlens[n_docs] = T; document i is tokens [cu_seqlens[i], cu_seqlens[i + 1]).
#pragma once

#include <cstdint>

namespace slm::cpu {

// How the probabilities enter their products: in fp32, or rounded to bf16 as the CUDA kernels
// (FlashAttention-2) round them: P before P V and P^T dout, dS before dS k and dS^T q. The bf16
// form is the CPU reference at the CUDA backend's precision (tests); training uses fp32.
enum class AttentionProbabilities { fp32, bf16 };

// out[T, H, E] = softmax(q k^T * scale + mask) v per head, and lse[T, H] = log(sum_j exp(s_tj))
// of the scaled scores s, for attention_backward. q [T, H, E]; k, v [T, G, E] (contiguous).
// Overwrites out and lse. scratch: omp_get_max_threads() * T floats.
void attention_forward_train(float* out, float* lse, const float* q, const float* k, const float* v,
                             std::int64_t t, std::int64_t h, std::int64_t g, std::int64_t e, float scale,
                             const std::int32_t* cu_seqlens, std::int64_t n_docs, float* scratch,
                             std::int64_t window = 0,
                             AttentionProbabilities probabilities = AttentionProbabilities::fp32);

// Given dout [T, H, E] and the forward's q, k, v, out and lse (same mask arguments), with
// P = exp(s - lse), dP = dout v^T, dS = P * (dP - rowsum(dout * out)):
//   dq[T, H, E] = scale * dS k                                             overwrites
//   dk[T, G, E] = scale * dS^T q,  dv[T, G, E] = P^T dout                   overwrite
// dk and dv sum over the H / G query heads sharing each kv head. Outputs must not alias inputs.
// scratch: T * H floats.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, std::int64_t t, std::int64_t h,
                        std::int64_t g, std::int64_t e, float scale, const std::int32_t* cu_seqlens,
                        std::int64_t n_docs, float* scratch, std::int64_t window = 0,
                        AttentionProbabilities probabilities = AttentionProbabilities::fp32);

}  // namespace slm::cpu
