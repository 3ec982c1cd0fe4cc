// ptx.cuh — the only inline PTX of the project, as tiny __device__ wrappers: mma.sync m16n8k16
// (bf16 and f16 inputs, f32 accumulators), ldmatrix x1/x2/x4 with and without .trans, and
// cp.async (4, 8 or 16 bytes, zero-fill past src_bytes) with commit_group / wait_group.
//
// Under nvcc (`#if defined(__CUDACC__)`, not __CUDA_ARCH__: the host pass must not see the
// emulated bodies) each is one asm volatile statement. Under g++ each calls the emulation
// harness (kernels/emu/harness.h), which also takes the caller's source line for its messages.
// Register conventions follow the PTX ISA: a 32-bit register holds two 16-bit elements, the
// lower-numbered one in bits 15:0; the fragment layouts are written out in kernels/emu/warp.cpp.
// Does not hold: tiles built from these (the kernels), shared memory declarations (shared.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#if defined(__CUDACC__)
#define SLM_PTX_SITE
#define SLM_PTX_SITE_ONLY
#define SLM_PTX_SITE_ARG
#else
#include <source_location>

#include "kernels/emu/harness.h"
#define SLM_PTX_SITE , std::source_location site = std::source_location::current()
#define SLM_PTX_SITE_ONLY std::source_location site = std::source_location::current()
#define SLM_PTX_SITE_ARG , site
#endif

namespace slm::cuda::ptx {

#if defined(__CUDACC__)
__device__ __forceinline__ unsigned shared_address(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
#endif

// d = a * b + c; a: A 16x16 row-major fragment, b: B 16x8 (k x n) fragment, c/d: 16x8 fp32.
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const std::uint32_t (&a)[4],
                                                  const std::uint32_t (&b)[2],
                                                  const float (&c)[4] SLM_PTX_SITE) {
#if defined(__CUDACC__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
        "f"(c[2]), "f"(c[3]));
#else
  ::slm::emu::mma_m16n8k16(::slm::emu::MmaInput::bf16, d, a, b, c SLM_PTX_SITE_ARG);
#endif
}

__device__ __forceinline__ void mma_m16n8k16_f16(float (&d)[4], const std::uint32_t (&a)[4],
                                                 const std::uint32_t (&b)[2],
                                                 const float (&c)[4] SLM_PTX_SITE) {
#if defined(__CUDACC__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
        "f"(c[2]), "f"(c[3]));
#else
  ::slm::emu::mma_m16n8k16(::slm::emu::MmaInput::f16, d, a, b, c SLM_PTX_SITE_ARG);
#endif
}

// ldmatrix: `row` is this lane's 16-byte aligned shared row address (lanes 8j..8j+7: matrix j).
__device__ __forceinline__ void ldmatrix_x1(std::uint32_t (&r)[1], const void* row SLM_PTX_SITE) {
#if defined(__CUDACC__)
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(shared_address(row)));
#else
  ::slm::emu::ldmatrix(1, false, row, r SLM_PTX_SITE_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x2(std::uint32_t (&r)[2], const void* row SLM_PTX_SITE) {
#if defined(__CUDACC__)
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(shared_address(row)));
#else
  ::slm::emu::ldmatrix(2, false, row, r SLM_PTX_SITE_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* row SLM_PTX_SITE) {
#if defined(__CUDACC__)
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
#else
  ::slm::emu::ldmatrix(4, false, row, r SLM_PTX_SITE_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x1_trans(std::uint32_t (&r)[1], const void* row SLM_PTX_SITE) {
#if defined(__CUDACC__)
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n"
               : "=r"(r[0])
               : "r"(shared_address(row)));
#else
  ::slm::emu::ldmatrix(1, true, row, r SLM_PTX_SITE_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x2_trans(std::uint32_t (&r)[2], const void* row SLM_PTX_SITE) {
#if defined(__CUDACC__)
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(shared_address(row)));
#else
  ::slm::emu::ldmatrix(2, true, row, r SLM_PTX_SITE_ARG);
#endif
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* row SLM_PTX_SITE) {
#if defined(__CUDACC__)
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row)));
#else
  ::slm::emu::ldmatrix(4, true, row, r SLM_PTX_SITE_ARG);
#endif
}

// cp.async of Bytes (4, 8: .ca; 16: .cg) from global `src` to shared `dst`, both aligned to Bytes;
// the bytes past src_bytes (0..Bytes) are zero-filled, so src_bytes = 0 only clears `dst`.
template <int Bytes>
__device__ __forceinline__ void cp_async(void* dst, const void* src, int src_bytes SLM_PTX_SITE) {
  static_assert(Bytes == 4 || Bytes == 8 || Bytes == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(__CUDACC__)
  if constexpr (Bytes == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)), "l"(src),
                 "r"(src_bytes));
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(shared_address(dst)), "l"(src),
                 "n"(Bytes), "r"(src_bytes));
  }
#else
  ::slm::emu::cp_async(dst, src, Bytes, src_bytes SLM_PTX_SITE_ARG);
#endif
}

// Closes this thread's current group of cp.async copies.
__device__ __forceinline__ void cp_async_commit(SLM_PTX_SITE_ONLY) {
#if defined(__CUDACC__)
  asm volatile("cp.async.commit_group;\n" ::);
#else
  ::slm::emu::cp_async_commit(site);
#endif
}

// Waits until at most N of this thread's committed groups are pending. Other threads see the
// data only after a barrier that follows the wait.
template <int N>
__device__ __forceinline__ void cp_async_wait(SLM_PTX_SITE_ONLY) {
  static_assert(N >= 0 && N < 8, "cp.async.wait_group takes 0..7");
#if defined(__CUDACC__)
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#else
  ::slm::emu::cp_async_wait(N, site);
#endif
}

// Commits the current group and waits for all of this thread's copies.
__device__ __forceinline__ void cp_async_wait_all(SLM_PTX_SITE_ONLY) {
#if defined(__CUDACC__)
  asm volatile("cp.async.wait_all;\n" ::);
#else
  ::slm::emu::cp_async_commit(site);
  ::slm::emu::cp_async_wait(0, site);
#endif
}

}  // namespace slm::cuda::ptx
