// layers.cpp — CPU embedding, RMSNorm, RoPE, SwiGLU, GeGLU and residual add; OpenMP over rows,
// inner loops written to vectorize.
#include "kernels/cpu/layers.h"

#include <cmath>
#include <cstring>

#include "train/core/error.h"

namespace slm::cpu {

void embedding_forward(float* out, const float* table, const std::int32_t* ids, std::int64_t t,
                       std::int64_t d, std::int64_t v) {
  for (std::int64_t i = 0; i < t; ++i) {
    SLM_CHECK(ids[i] >= 0 && ids[i] < v, "token id ", ids[i], " at position ", i,
              " is outside the vocabulary [0, ", v, "); the data was tokenized for another model");
    std::memcpy(out + i * d, table + static_cast<std::int64_t>(ids[i]) * d, sizeof(float) * d);
  }
}

void rmsnorm_forward(float* out, const float* x, const float* w, std::int64_t t, std::int64_t d, float eps) {
#pragma omp parallel for schedule(static) if (t > 4)
  for (std::int64_t i = 0; i < t; ++i) {
    const float* xi = x + i * d;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t j = 0; j < d; ++j) sum += xi[j] * xi[j];
    const float r = 1.0f / std::sqrt(sum / static_cast<float>(d) + eps);
    float* oi = out + i * d;
#pragma omp simd
    for (std::int64_t j = 0; j < d; ++j) oi[j] = w[j] * (xi[j] * r);
  }
}

void rope_forward(float* x, const float* cos, const float* sin, std::int64_t t, std::int64_t n, std::int64_t e) {
  const std::int64_t half = e / 2;
#pragma omp parallel for schedule(static) if (t * n > 64)
  for (std::int64_t row = 0; row < t * n; ++row) {
    const std::int64_t ti = row / n;
    float* v = x + row * e;
    const float* c = cos + ti * half;
    const float* s = sin + ti * half;
#pragma omp simd
    for (std::int64_t i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * c[i] - b * s[i];
      v[i + half] = b * c[i] + a * s[i];
    }
  }
}

void swiglu_forward(float* out, const float* gate, const float* up, std::int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void geglu_forward(float* out, const float* gate, const float* up, std::int64_t count) {
  constexpr float k_sqrt_2_over_pi = 0.7978845608028654f, k_cubic = 0.044715f;
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    const float z = k_sqrt_2_over_pi * (g + k_cubic * g * g * g);
    out[i] = g / (1.0f + std::exp(-2.0f * z)) * up[i];
  }
}

void add_inplace(float* x, const float* y, std::int64_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (std::int64_t i = 0; i < count; ++i) x[i] += y[i];
}

}  // namespace slm::cpu
