// launch.cuh — the one place kernels are launched from host code, in both builds.
//
// Under nvcc this is the <<<grid, block, shared, stream>>> launch followed by a launch-error
// check. Under g++ (the emulation harness, kernels/emu) the arguments are converted to the
// kernel's parameter types once and every CUDA thread of the grid runs the kernel as a fiber;
// the launch is synchronous and throws slm::Error for a kernel fault. No other file writes <<<>>>.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/cuda/check.h"
#if !defined(__CUDACC__)
#include "kernels/emu/harness.h"  // launch_kernel
#endif

namespace slm::cuda {

template <typename... KernelArgs, typename... Args>
void launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, Args&&... args) {
#if defined(__CUDACC__)
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  SLM_CUDA_CHECK(cudaGetLastError());
#else
  (void)stream;  // launches are synchronous under the harness
  const std::tuple<std::decay_t<KernelArgs>...> packed(std::forward<Args>(args)...);
  ::slm::emu::launch_kernel({grid, block, shared_bytes, reinterpret_cast<const void*>(kernel)},
                            [&packed, kernel] { std::apply(kernel, packed); });
#endif
}

}  // namespace slm::cuda
