// launch.cuh — the one place kernels are launched from host code.
//
// Under nvcc this is the <<<grid, block, shared, stream>>> launch followed by a launch-error
// check. The emulation harness (kernels/emu) will provide the same function for g++ builds, so
// no other file ever writes <<<>>>.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/check.h"

namespace slm::cuda {

template <typename... KernelArgs, typename... Args>
void launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, Args&&... args) {
#if defined(__CUDACC__)
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  SLM_CUDA_CHECK(cudaGetLastError());
#else
#error "kernels/cuda is compiled by nvcc; the g++ build goes through the emulation harness"
#endif
}

}  // namespace slm::cuda
