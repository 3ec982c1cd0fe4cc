// adamw.h — fused AdamW over a flat fp32 parameter arena, on the CPU.
// Does not hold: learning-rate schedules or clipping (the trainer computes lr and grad_scale).
#pragma once

#include <cstddef>

#include "kernels/op_params.h"

namespace slm::cpu {

// Updates param, m and v in place (overwrites); grad is read only. Threaded over n.
void adamw_step(const AdamWParams& p, float* param, const float* grad, float* m, float* v,
                std::size_t n);

}  // namespace slm::cpu
