// attention.h — causal scaled-dot-product attention with grouped key/value heads, on the CPU.
//
// Letters: T query tokens, S keys (S >= T: earlier tokens from the KV cache come first),
// H query heads, G key/value heads (H % G == 0), E head_dim.
#pragma once

#include <cstdint>

namespace slm::cpu {

// out[T, H, E] = softmax(q k^T * scale + causal mask) v, per head; query t sits at position
// S - T + t and sees keys 0 ..= S - T + t. q [T, H, E]; k, v [S, G, E] (row stride kv_stride
// floats between consecutive keys, so a KV cache with capacity > S can be passed directly).
// `scores` is scratch of at least S floats per thread (threads * S). Overwrites out.
void attention_forward(float* out, const float* q, const float* k, const float* v, std::int64_t t,
                       std::int64_t s, std::int64_t h, std::int64_t g, std::int64_t e, std::int64_t kv_stride,
                       float scale, float* scores);

}  // namespace slm::cpu
