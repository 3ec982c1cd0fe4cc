// cross_entropy.h — the fused, chunked lm_head + softmax cross-entropy of training, forward and
// backward in one pass, on the CPU: logits exist only for `chunk` rows at a time, never [T, V].
// Does not hold: the lm_head forward of inference (matmul_nt), or any loss normalization.
//
// Letters: T tokens, D hidden size, V vocab, C chunk rows.
#pragma once

#include <cstdint>

namespace slm::cpu {

// Targets equal to this are skipped (PyTorch's ignore_index default).
constexpr std::int32_t k_ignore_index = -100;

// For the final normed hidden x [T, D], the lm_head weight w [V, D] and targets [T] (k_ignore_index
// or an id in [0, V)), with logits z = x w^T and p = softmax(z) per row:
//   *loss_sum = sum over non-ignored rows of (logsumexp(z_t) - z_t[target_t])   overwrites (double)
//   dx[T, D]  = grad_scale * (p_t - onehot(target_t)) w  for non-ignored rows;   overwrites
//               0 for ignored rows.
// Returns the number of non-ignored rows. The loss is a sum: normalization lives with the
// caller, which passes grad_scale = 1 / (target tokens in the whole accumulation window) and
// divides the summed loss by the same count, so dx is the gradient of the mean loss.
// Non-ignored rows are gathered, C at a time (C = chunk need not divide T), so ignored rows
// cost nothing. scratch: chunk * (V + D + 1) floats. Throws slm::Error for a target outside
// [0, V) that is not k_ignore_index. x and dx must not alias.
std::int64_t cross_entropy_forward_backward(double* loss_sum, float* dx, const float* x, const float* w,
                                            const std::int32_t* targets, std::int64_t t, std::int64_t d,
                                            std::int64_t v, std::int64_t chunk, float grad_scale,
                                            float* scratch);

}  // namespace slm::cpu
