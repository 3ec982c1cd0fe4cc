// layers_backward.cpp — CPU backward of RMSNorm, RoPE, SwiGLU and GeGLU; OpenMP over rows (or
// over elements for SwiGLU and GeGLU), inner loops written to vectorize.
#include "kernels/cpu/layers_backward.h"

#include <cfloat>  // FLT_MAX
#include <cmath>

namespace slm::cpu {

void rmsnorm_backward(float* dx, const float* dy, const float* x, const float* w, std::int64_t t,
                      std::int64_t d, float eps, bool accumulate) {
  const float inv_d = 1.0f / static_cast<float>(d);
#pragma omp parallel for schedule(static) if (t > 4)
  for (std::int64_t i = 0; i < t; ++i) {
    const float* xi = x + i * d;
    const float* gi = dy + i * d;
    float sum_sq = 0.0f, sum_gwx = 0.0f;
#pragma omp simd reduction(+ : sum_sq, sum_gwx)
    for (std::int64_t j = 0; j < d; ++j) {
      sum_sq += xi[j] * xi[j];
      sum_gwx += gi[j] * w[j] * xi[j];
    }
    const float r = 1.0f / std::sqrt(sum_sq * inv_d + eps);
    const float c = r * r * r * sum_gwx * inv_d;  // r * (r^2 * mean(dy*w*x))
    float* di = dx + i * d;
    if (accumulate) {
#pragma omp simd
      for (std::int64_t j = 0; j < d; ++j) di[j] += r * gi[j] * w[j] - c * xi[j];
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < d; ++j) di[j] = r * gi[j] * w[j] - c * xi[j];
    }
  }
}

void rope_backward(float* dx, const float* cos, const float* sin, std::int64_t t, std::int64_t n,
                   std::int64_t e) {
  const std::int64_t half = e / 2;
#pragma omp parallel for schedule(static) if (t * n > 64)
  for (std::int64_t row = 0; row < t * n; ++row) {
    const std::int64_t ti = row / n;
    float* v = dx + row * e;
    const float* c = cos + ti * half;
    const float* s = sin + ti * half;
#pragma omp simd
    for (std::int64_t i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * c[i] + b * s[i];
      v[i + half] = b * c[i] - a * s[i];
    }
  }
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                     std::int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) {
    const float g = gate[i], u = up[i], go = dout[i];
    const float sig = 1.0f / (1.0f + std::exp(-g));
    const float silu = g * sig;
    dgate[i] = go * u * sig * (1.0f + g * (1.0f - sig));
    dup[i] = go * silu;
  }
}

void geglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                    std::int64_t count) {
  constexpr float k_sqrt_2_over_pi = 0.7978845608028654f, k_cubic = 0.044715f;
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) {
    const float g = gate[i], u = up[i], go = dout[i];
    const float z = k_sqrt_2_over_pi * (g + k_cubic * g * g * g);
    const float e = std::exp(-2.0f * z), s = 1.0f / (1.0f + e);
    const float q = e <= FLT_MAX ? e * s * s : 0.0f;  // s (1 - s), without 1 - s cancelling
    const float slope = q > 0.0f ? 2.0f * g * q * k_sqrt_2_over_pi * (1.0f + 3.0f * k_cubic * g * g) : 0.0f;
    dgate[i] = go * u * (s + slope);
    dup[i] = go * (g * s);
  }
}

}  // namespace slm::cpu
