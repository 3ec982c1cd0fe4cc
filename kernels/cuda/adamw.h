// adamw.h — fused AdamW over a flat fp32 parameter arena in device memory (CUDA twin of
// kernels/cpu/adamw.h, same arguments plus a stream).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/op_params.h"

namespace slm::cuda {

// Updates param, m and v in place (overwrites); grad is read only. Enqueued on `stream`.
void adamw_step(const AdamWParams& p, float* param, const float* grad, float* m, float* v,
                std::size_t n, cudaStream_t stream);

}  // namespace slm::cuda
