// cross_entropy.cpp — chunked linear cross-entropy: gather up to C non-ignored rows, logits by
// sgemm, a max-subtracted softmax per row (fp32, OpenMP over rows) turned in place into the
// logit gradient, then dx rows by a second sgemm, scattered back.
#include "kernels/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_backward.h"
#include "train/core/error.h"

namespace slm::cpu {
namespace {

// Turns one row of logits z [V] into grad_scale * (softmax(z) - onehot(target)), in place;
// returns the row's loss logsumexp(z) - z[target] in double.
double softmax_grad_row(float* z, std::int64_t v, std::int32_t target, float grad_scale) {
  const float z_target = z[target];
  float max_z = -INFINITY;
#pragma omp simd reduction(max : max_z)
  for (std::int64_t j = 0; j < v; ++j) max_z = std::max(max_z, z[j]);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t j = 0; j < v; ++j) {
    z[j] = std::exp(z[j] - max_z);
    sum += z[j];
  }
  const double loss = static_cast<double>(max_z) + std::log(static_cast<double>(sum)) - z_target;
  const float inv = grad_scale / sum;
#pragma omp simd
  for (std::int64_t j = 0; j < v; ++j) z[j] *= inv;
  z[target] -= grad_scale;
  return loss;
}

void check_targets(const std::int32_t* targets, std::int64_t t, std::int64_t v) {
  for (std::int64_t i = 0; i < t; ++i)
    SLM_CHECK(targets[i] == k_ignore_index || (targets[i] >= 0 && targets[i] < v), "cross_entropy: target ",
              targets[i], " at position ", i, " is outside the vocabulary [0, ", v, ") and is not the ignore index ",
              k_ignore_index, "; the data was tokenized for another model or masked with another value");
}

}  // namespace

std::int64_t cross_entropy_forward_backward(double* loss_sum, float* dx, const float* x, const float* w,
                                            const std::int32_t* targets, std::int64_t t, std::int64_t d,
                                            std::int64_t v, std::int64_t chunk, float grad_scale,
                                            float* scratch) {
  SLM_CHECK(chunk > 0, "cross_entropy: chunk must be positive, got ", chunk);
  SLM_CHECK(v <= (std::int64_t{1} << 24), "cross_entropy: vocabulary ", v, " exceeds 2^24 ids");
  check_targets(targets, t, v);
  float* logits = scratch;                      // [C, V]
  float* rows = scratch + chunk * v;            // [C, D]: gathered x, then the rows' dx
  float* row_target = rows + chunk * d;         // [C]: target ids, exact in fp32 below 2^24
  double total = 0.0;
  std::int64_t counted = 0, next = 0;
  while (next < t) {
    std::int64_t c = 0;
    const std::int64_t first = next;
    for (; next < t && c < chunk; ++next) {  // gather up to C non-ignored rows
      if (targets[next] == k_ignore_index) {
        std::memset(dx + next * d, 0, sizeof(float) * d);
        continue;
      }
      row_target[c] = static_cast<float>(targets[next]);
      std::memcpy(rows + c * d, x + next * d, sizeof(float) * d);
      ++c;
    }
    if (c == 0) continue;
    matmul_nt(logits, rows, w, c, v, d);  // z[C, V] = x w^T
    double chunk_loss = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : chunk_loss) if (c > 1)
    for (std::int64_t i = 0; i < c; ++i)
      chunk_loss += softmax_grad_row(logits + i * v, v, static_cast<std::int32_t>(row_target[i]), grad_scale);
    total += chunk_loss;
    counted += c;
    matmul_nn(rows, logits, w, c, d, v);  // dx rows [C, D] = dz[C, V] w[V, D]
    for (std::int64_t i = first, ci = 0; i < next; ++i)  // scatter back in gather order
      if (targets[i] != k_ignore_index) std::memcpy(dx + i * d, rows + (ci++) * d, sizeof(float) * d);
  }
  *loss_sum = total;
  return counted;
}

}  // namespace slm::cpu
