// attention.cpp — straightforward causal GQA attention: one (query, head) pair at a time,
// fp32 softmax with the maximum subtracted. OpenMP over (query, head) pairs.
#include "kernels/cpu/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

namespace slm::cpu {

void attention_forward(float* out, const float* q, const float* k, const float* v, std::int64_t t,
                       std::int64_t s, std::int64_t h, std::int64_t g, std::int64_t e, std::int64_t kv_stride,
                       float scale, float* scores) {
  const std::int64_t group = h / g;
#pragma omp parallel for schedule(dynamic, 1) if (t * h > 1)
  for (std::int64_t pair = 0; pair < t * h; ++pair) {
    const std::int64_t ti = pair / h, hi = pair % h, gi = hi / group;
    const std::int64_t visible = s - t + ti + 1;
    float* sc = scores + static_cast<std::int64_t>(omp_get_thread_num()) * s;
    const float* qi = q + (ti * h + hi) * e;
    float max_score = -INFINITY;
    for (std::int64_t j = 0; j < visible; ++j) {
      const float* kj = k + j * kv_stride + gi * e;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (std::int64_t c = 0; c < e; ++c) dot += qi[c] * kj[c];
      sc[j] = dot * scale;
      max_score = std::max(max_score, sc[j]);
    }
    float sum = 0.0f;
    for (std::int64_t j = 0; j < visible; ++j) {
      sc[j] = std::exp(sc[j] - max_score);
      sum += sc[j];
    }
    const float inv = 1.0f / sum;
    float* oi = out + (ti * h + hi) * e;
    std::fill(oi, oi + e, 0.0f);
    for (std::int64_t j = 0; j < visible; ++j) {
      const float p = sc[j] * inv;
      const float* vj = v + j * kv_stride + gi * e;
#pragma omp simd
      for (std::int64_t c = 0; c < e; ++c) oi[c] += p * vj[c];
    }
  }
}

}  // namespace slm::cpu
