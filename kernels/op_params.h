// op_params.h — argument structs shared by the CPU and CUDA twins of each op.
//
// Holds: plain structs (no pointers to device memory, no streams) so that kernels/cpu and
// kernels/cuda take exactly the same arguments and tests can drive both from one description.
// Does not hold: any implementation.
#pragma once

#include <cstdint>

namespace slm {

// One fused AdamW update, in PyTorch's formulation (torch.optim.AdamW, foreach=False):
//   p <- p * (1 - lr * weight_decay)
//   m <- beta1 * m + (1 - beta1) * g          with g = grad * grad_scale
//   v <- beta2 * v + (1 - beta2) * g^2
//   p <- p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc_i = 1 - beta_i^step
struct AdamWParams {
  float lr = 0;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0;
  float grad_scale = 1;  // folds gradient clipping into the update
  std::int64_t step = 1;  // 1-based: the bias corrections use it
};

}  // namespace slm
