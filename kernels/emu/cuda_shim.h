// cuda_shim.h — the CUDA device-side names for g++: qualifiers (__global__, __device__, ...),
// threadIdx / blockIdx / blockDim / gridDim (per fiber), __syncthreads, the warp intrinsics,
// atomics, fences and the math intrinsics, mapped onto the emulation harness.
//
// Included through the stand-in <cuda_runtime.h> & co. in kernels/emu/include, which the g++
// build of kernels/cuda/*.cu puts first on its include path. Does not hold: inline PTX (the
// wrappers in kernels/cuda/ptx.cuh call the harness directly), static shared arrays
// (SLM_SHARED in kernels/cuda/shared.cuh), or the host runtime (kernels/emu/runtime.h).
// `__shared__` expands to a static_assert: kernels declare shared arrays with SLM_SHARED.
#pragma once

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <type_traits>

#include "kernels/emu/harness.h"
#include "kernels/emu/types.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __restrict__ __restrict
#define __shared__ \
  static_assert(false, "declare shared arrays with SLM_SHARED(type, name, count) (kernels/cuda/shared.cuh)");

#define threadIdx (::slm::emu::this_thread().thread_idx)
#define blockIdx (::slm::emu::this_thread().block_idx)
#define blockDim (::slm::emu::this_thread().block_dim)
#define gridDim (::slm::emu::this_thread().grid_dim)
constexpr int warpSize = 32;

// --- barriers and warp collectives --------------------------------------------------------------
inline void __syncthreads(std::source_location site = std::source_location::current()) {
  ::slm::emu::sync_block(site);
}
inline int __syncthreads_count(int predicate, std::source_location site = std::source_location::current()) {
  return ::slm::emu::sync_block_count(predicate != 0, site);
}
inline int __syncthreads_and(int predicate, std::source_location site = std::source_location::current()) {
  const int threads = static_cast<int>(blockDim.x * blockDim.y * blockDim.z);
  return ::slm::emu::sync_block_count(predicate != 0, site) == threads ? 1 : 0;
}
inline int __syncthreads_or(int predicate, std::source_location site = std::source_location::current()) {
  return ::slm::emu::sync_block_count(predicate != 0, site) > 0 ? 1 : 0;
}
inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location site = std::source_location::current()) {
  ::slm::emu::warp_sync(mask, site);
}

namespace slm::emu {
template <typename T>
std::uint64_t to_bits(T value) {
  static_assert(std::is_trivially_copyable_v<T> && (sizeof(T) == 4 || sizeof(T) == 8 || sizeof(T) == 2),
                "warp shuffles move 2-, 4- or 8-byte values");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}
template <typename T>
T from_bits(std::uint64_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}
}  // namespace slm::emu

template <typename T>
T __shfl_sync(unsigned mask, T value, int src_lane, int width = warpSize,
              std::source_location site = std::source_location::current()) {
  using namespace slm::emu;
  return from_bits<T>(warp_shfl(ShflMode::idx, mask, to_bits(value), src_lane, width, site));
}
template <typename T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize,
                 std::source_location site = std::source_location::current()) {
  using namespace slm::emu;
  return from_bits<T>(warp_shfl(ShflMode::up, mask, to_bits(value), static_cast<int>(delta), width, site));
}
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize,
                   std::source_location site = std::source_location::current()) {
  using namespace slm::emu;
  return from_bits<T>(warp_shfl(ShflMode::down, mask, to_bits(value), static_cast<int>(delta), width, site));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize,
                  std::source_location site = std::source_location::current()) {
  using namespace slm::emu;
  return from_bits<T>(warp_shfl(ShflMode::bxor, mask, to_bits(value), lane_mask, width, site));
}
inline unsigned __ballot_sync(unsigned mask, int predicate, std::source_location site = std::source_location::current()) {
  return ::slm::emu::warp_vote(::slm::emu::VoteMode::ballot, mask, predicate != 0, site);
}
inline int __any_sync(unsigned mask, int predicate, std::source_location site = std::source_location::current()) {
  return static_cast<int>(::slm::emu::warp_vote(::slm::emu::VoteMode::any, mask, predicate != 0, site));
}
inline int __all_sync(unsigned mask, int predicate, std::source_location site = std::source_location::current()) {
  return static_cast<int>(::slm::emu::warp_vote(::slm::emu::VoteMode::all, mask, predicate != 0, site));
}
inline unsigned __activemask() { return 0xffffffffu; }  // the harness runs no divergent lockstep

// --- atomics (global and shared alike; blocks run on several OS threads) ---------------------------
template <typename T>
T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
template <typename T>
T atomicSub(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_sub(value);
}
template <typename T>
T atomicExch(T* address, T value) {
  return std::atomic_ref<T>(*address).exchange(value);
}
template <typename T>
T atomicCAS(T* address, T expected, T desired) {
  std::atomic_ref<T>(*address).compare_exchange_strong(expected, desired);
  return expected;
}
template <typename T>
T atomicMax(T* address, T value) {
  std::atomic_ref<T> ref(*address);
  T old = ref.load();
  while (old < value && !ref.compare_exchange_weak(old, value)) {
  }
  return old;
}
template <typename T>
T atomicMin(T* address, T value) {
  std::atomic_ref<T> ref(*address);
  T old = ref.load();
  while (value < old && !ref.compare_exchange_weak(old, value)) {
  }
  return old;
}
template <typename T>
T atomicAnd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_and(value);
}
template <typename T>
T atomicOr(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_or(value);
}
template <typename T>
T atomicXor(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_xor(value);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// --- loads and math intrinsics ---------------------------------------------------------------------
template <typename T>
T __ldg(const T* address) {
  return *address;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanhf(float x) { return std::tanh(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }  // NaN -> 0 below
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned>(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned long long>(x)) + 1; }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
