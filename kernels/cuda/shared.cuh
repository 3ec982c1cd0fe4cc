// shared.cuh — shared memory in kernels, the same source for nvcc and for the emulation harness.
//
//   SLM_SHARED(float, tile, 64 * 65);          // at kernel scope, instead of __shared__ arrays
//   auto smem = slm::cuda::dynamic_shared<float>();  // the launch's dynamic shared memory
//
// Under nvcc these are a 16-byte aligned __shared__ array and the extern __shared__ buffer.
// Under g++ they are per-block storage from the harness, seen through a bounds-checked view
// (kernels/emu/harness.h, SharedArray): index with [], take addresses with &name[i]; casting the
// name itself to another pointer type does not compile there, so write &name[0].
// Does not hold: the PTX wrappers that read or fill shared memory (kernels/cuda/ptx.cuh).
#pragma once

#include <cuda_runtime.h>

#if defined(__CUDACC__)
#define SLM_SHARED(type, name, count) __shared__ __align__(16) type name[count]
#else
#include "kernels/emu/harness.h"  // SharedSite, shared_array, dynamic_shared_array
#define SLM_SHARED(type, name, count)                                                          \
  static constexpr ::slm::emu::SharedSite slm_shared_site_##name{#name, sizeof(type) * (count)}; \
  const ::slm::emu::SharedArray<type> name = ::slm::emu::shared_array<type>(slm_shared_site_##name, (count))
#endif

namespace slm::cuda {

#if defined(__CUDACC__)
template <typename T>
__device__ __forceinline__ T* dynamic_shared() {
  extern __shared__ __align__(16) unsigned char slm_dynamic_shared[];
  return reinterpret_cast<T*>(slm_dynamic_shared);
}
#else
template <typename T>
::slm::emu::SharedArray<T> dynamic_shared() {
  return ::slm::emu::dynamic_shared_array<T>();
}
#endif

}  // namespace slm::cuda
