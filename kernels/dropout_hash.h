// dropout_hash.h — LoRA dropout's counter-based mask, one definition for the CPU training step
// (train/model/llama_train.cpp) and the CUDA kernels (kernels/cuda/lora.cu).
//
// Element i of one adapter input's [N, K] mask drops (is 0, else 1 / (1 - p)) when
// u = (mix(base + i) >> 11) * 2^-53 < p, where base = mix(seed ^ mix(counter)) names the call
// (micro-batch, layer, slot). The same test on integers: (mix(base + i) >> 11) < ceil(p * 2^53),
// exact because both sides are below 2^53; kernels use that form. No mask is ever stored: the
// backward regenerates it, and resume needs only the micro-batch counter.
// Plain C++ (host and device): no CUDA headers, so the CPU build includes it as is.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SLM_HOST_DEVICE __host__ __device__
#else
#define SLM_HOST_DEVICE
#endif

namespace slm {

// splitmix64's finalizer.
SLM_HOST_DEVICE inline std::uint64_t dropout_mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The base of one call's mask: micro-batch `micro_batch`, layer `layer`, linear slot `slot` of
// `num_slots`.
inline std::uint64_t dropout_base(std::uint64_t seed, std::int64_t micro_batch, std::int64_t layer, std::int64_t slot,
                                  std::int64_t num_slots) {
  const auto s = static_cast<std::uint64_t>(num_slots);
  return dropout_mix(seed ^ dropout_mix(static_cast<std::uint64_t>(micro_batch) * s * 65536 +
                                        static_cast<std::uint64_t>(layer) * s + static_cast<std::uint64_t>(slot)));
}

// ceil(p * 2^53): element i drops when (mix(base + i) >> 11) < threshold (0: nothing drops).
inline std::uint64_t dropout_threshold(double p) { return static_cast<std::uint64_t>(std::ceil(std::ldexp(p, 53))); }

SLM_HOST_DEVICE inline bool dropout_drops(std::uint64_t base, std::uint64_t i, std::uint64_t threshold) {
  return (dropout_mix(base + i) >> 11) < threshold;
}

}  // namespace slm
