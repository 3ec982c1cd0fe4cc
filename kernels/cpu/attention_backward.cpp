// attention_backward.cpp — training attention on the CPU, one (query, head) or (key, kv head)
// pair at a time with fp32 dot products over E. The backward recomputes probabilities from the
// saved log-sum-exp in two race-free passes: dq over (query, head) pairs, then dk and dv over
// (key, kv head) pairs, each OpenMP-parallel with dynamic scheduling (causal rows are uneven).
#include "kernels/cpu/attention_backward.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/bf16_round.h"
#include "train/core/error.h"

namespace slm::cpu {
namespace {

// The documents of one packed row, and the visible ranges they and the window give.
class Docs {
 public:
  Docs(const std::int32_t* cu, std::int64_t n_docs, std::int64_t t, std::int64_t window)
      : cu_(cu), n_(n_docs), t_(t), window_(window) {
    SLM_CHECK(window >= 0, "attention: sliding window ", window, " is negative; use 0 for none");
    if (cu == nullptr) return;
    SLM_CHECK(n_docs >= 1 && cu[0] == 0 && cu[n_docs] == t, "attention: cu_seqlens must start at 0 and end at T = ",
              t, " (got ", n_docs >= 1 ? cu[0] : -1, " .. ", n_docs >= 1 ? cu[n_docs] : -1, " over ", n_docs,
              " documents); check the packed row's document boundaries");
    for (std::int64_t i = 0; i < n_docs; ++i)
      SLM_CHECK(cu[i] <= cu[i + 1], "attention: cu_seqlens decreases at document ", i, " (", cu[i], " > ",
                cu[i + 1], "); document offsets must be sorted");
  }
  // Keys visible to query ti: [first_key(ti), ti].
  std::int64_t first_key(std::int64_t ti) const {
    std::int64_t lo = cu_ == nullptr ? 0 : cu_[doc_of(ti)];
    if (window_ > 0) lo = std::max(lo, ti - window_ + 1);
    return lo;
  }
  // Queries that see key j: [j, query_end(j)).
  std::int64_t query_end(std::int64_t j) const {
    std::int64_t hi = cu_ == nullptr ? t_ : cu_[doc_of(j) + 1];
    if (window_ > 0) hi = std::min(hi, j + window_);
    return hi;
  }

 private:
  std::int64_t doc_of(std::int64_t ti) const {  // the last document whose start is <= ti
    return std::upper_bound(cu_, cu_ + n_ + 1, static_cast<std::int32_t>(ti)) - cu_ - 1;
  }
  const std::int32_t* cu_;
  std::int64_t n_, t_, window_;
};

inline float dot(const float* a, const float* b, std::int64_t e) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (std::int64_t c = 0; c < e; ++c) s += a[c] * b[c];
  return s;
}

inline void axpy(float* y, float alpha, const float* x, std::int64_t e) {
#pragma omp simd
  for (std::int64_t c = 0; c < e; ++c) y[c] += alpha * x[c];
}

// p rounded to bf16 (nearest even) when `round`; p otherwise. Finite p of either sign (P, dS).
float probability(float p, bool round) { return round ? round_to_bf16(p) : p; }

// One query row of the forward: keys [lo, ti] of kv head gi; sc is scratch of ti - lo + 1 floats.
// Writes oi [E] and returns the log-sum-exp of the scaled scores. With `round`, exp(s - max)
// enters P V rounded to bf16 (the sum that normalizes stays fp32, as in the CUDA kernel).
float forward_row(float* oi, float* sc, const float* qi, const float* k, const float* v, std::int64_t lo,
                  std::int64_t ti, std::int64_t kv_row, std::int64_t gi, std::int64_t e, float scale, bool round) {
  float max_score = -INFINITY;
  for (std::int64_t j = lo; j <= ti; ++j) {
    const float s = dot(qi, k + j * kv_row + gi * e, e) * scale;
    sc[j - lo] = s;
    max_score = std::max(max_score, s);
  }
  float sum = 0.0f;
  for (std::int64_t j = lo; j <= ti; ++j) sum += (sc[j - lo] = std::exp(sc[j - lo] - max_score));
  const float inv = 1.0f / sum;
  std::fill(oi, oi + e, 0.0f);
  for (std::int64_t j = lo; j <= ti; ++j) axpy(oi, probability(sc[j - lo], round) * inv, v + j * kv_row + gi * e, e);
  return max_score + std::log(sum);
}

}  // namespace

void attention_forward_train(float* out, float* lse, const float* q, const float* k, const float* v,
                             std::int64_t t, std::int64_t h, std::int64_t g, std::int64_t e, float scale,
                             const std::int32_t* cu_seqlens, std::int64_t n_docs, float* scratch,
                             std::int64_t window, AttentionProbabilities probabilities) {
  const bool round = probabilities == AttentionProbabilities::bf16;
  SLM_CHECK(g > 0 && h % g == 0, "attention: ", h, " query heads are not a multiple of ", g, " kv heads");
  const Docs docs(cu_seqlens, n_docs, t, window);
  const std::int64_t group = h / g, kv_row = g * e;
#pragma omp parallel for schedule(dynamic, 1) if (t * h > 1)
  for (std::int64_t pair = 0; pair < t * h; ++pair) {
    const std::int64_t ti = pair / h, hi = pair % h;
    float* sc = scratch + static_cast<std::int64_t>(omp_get_thread_num()) * t;
    lse[pair] = forward_row(out + pair * e, sc, q + pair * e, k, v, docs.first_key(ti), ti, kv_row, hi / group,
                            e, scale, round);
  }
}

namespace {

// dq for every (query, head) pair; delta[T, H] = rowsum(dout * out) already computed.
void backward_dq(float* dq, const float* dout, const float* q, const float* k, const float* v, const float* lse,
                 const float* delta, std::int64_t t, std::int64_t h, std::int64_t g, std::int64_t e, float scale,
                 const Docs& docs, bool round) {
  const std::int64_t group = h / g, kv_row = g * e;
#pragma omp parallel for schedule(dynamic, 1) if (t * h > 1)
  for (std::int64_t pair = 0; pair < t * h; ++pair) {
    const std::int64_t ti = pair / h, gi = (pair % h) / group;
    const float* qi = q + pair * e;
    const float* gi_out = dout + pair * e;
    float* dqi = dq + pair * e;
    std::fill(dqi, dqi + e, 0.0f);
    for (std::int64_t j = docs.first_key(ti); j <= ti; ++j) {
      const float* kj = k + j * kv_row + gi * e;
      const float p = std::exp(dot(qi, kj, e) * scale - lse[pair]);
      const float ds = p * (dot(gi_out, v + j * kv_row + gi * e, e) - delta[pair]);
      axpy(dqi, scale * probability(ds, round), kj, e);
    }
  }
}

// dk and dv for every (key, kv head) pair, summing over the queries and heads that see it.
void backward_dkdv(float* dk, float* dv, const float* dout, const float* q, const float* k, const float* v,
                   const float* lse, const float* delta, std::int64_t t, std::int64_t h, std::int64_t g,
                   std::int64_t e, float scale, const Docs& docs, bool round) {
  const std::int64_t group = h / g;
#pragma omp parallel for schedule(dynamic, 1) if (t * g > 1)
  for (std::int64_t pair = 0; pair < t * g; ++pair) {
    const std::int64_t j = pair / g, gi = pair % g;
    const float* kj = k + pair * e;
    const float* vj = v + pair * e;
    float* dkj = dk + pair * e;
    float* dvj = dv + pair * e;
    std::fill(dkj, dkj + e, 0.0f);
    std::fill(dvj, dvj + e, 0.0f);
    const std::int64_t end = docs.query_end(j);
    for (std::int64_t ti = j; ti < end; ++ti) {
      for (std::int64_t hi = gi * group; hi < (gi + 1) * group; ++hi) {
        const std::int64_t row = ti * h + hi;
        const float* qi = q + row * e;
        const float* doi = dout + row * e;
        const float p = std::exp(dot(qi, kj, e) * scale - lse[row]);
        const float ds = p * (dot(doi, vj, e) - delta[row]);
        axpy(dkj, scale * probability(ds, round), qi, e);
        axpy(dvj, probability(p, round), doi, e);
      }
    }
  }
}

}  // namespace

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, std::int64_t t, std::int64_t h,
                        std::int64_t g, std::int64_t e, float scale, const std::int32_t* cu_seqlens,
                        std::int64_t n_docs, float* scratch, std::int64_t window,
                        AttentionProbabilities probabilities) {
  const bool round = probabilities == AttentionProbabilities::bf16;
  SLM_CHECK(g > 0 && h % g == 0, "attention: ", h, " query heads are not a multiple of ", g, " kv heads");
  const Docs docs(cu_seqlens, n_docs, t, window);
  float* delta = scratch;  // [T, H]
#pragma omp parallel for schedule(static) if (t * h > 256)
  for (std::int64_t pair = 0; pair < t * h; ++pair) delta[pair] = dot(dout + pair * e, out + pair * e, e);
  backward_dq(dq, dout, q, k, v, lse, delta, t, h, g, e, scale, docs, round);
  backward_dkdv(dk, dv, dout, q, k, v, lse, delta, t, h, g, e, scale, docs, round);
}

}  // namespace slm::cpu
