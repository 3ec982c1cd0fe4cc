// grad_norm.h — global-norm gradient clipping helpers over a flat fp32 gradient arena (the
// adapters' gradients), on the CPU. Does not hold: the clipping policy (the trainer computes
// the factor min(1, max_norm / norm) and may fold it into AdamWParams::grad_scale instead).
#pragma once

#include <cstdint>

namespace slm::cpu {

// Returns sum(g[i]^2) over n floats: fp32 partial sums over blocks of 4096, combined in double.
double grad_norm_squared(const float* g, std::int64_t n);

// g[i] *= s over n floats (overwrites g in place).
void scale_inplace(float* g, std::int64_t n, float s);

}  // namespace slm::cpu
