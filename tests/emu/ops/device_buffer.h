// device_buffer.h — device-portable helpers for the op tests (tests/emu/ops/test_*.cpp): device
// arrays with guard elements, moved to and from host vectors by cudaMemcpy, and exact 16-bit
// float conversions that do not depend on the toolkit's headers.
//
// Portable: only CUDA runtime calls (cudaMalloc, cudaMemcpy, cudaFree), so the same code runs
// under the emulation harness (whose stand-ins in kernels/emu/runtime.h hand out host memory) and
// against the real CUDA runtime in test_cuda_ops_device (tests/emu/CMakeLists.txt). The harness
// targets define SLM_EMU_TESTS=1: a test puts what needs the harness itself (schedules, slm::emu)
// under `#if SLM_EMU_TESTS`, and tests/emu/emu_test_util.h is included only there.
// Does not hold: kernels, references, or anything of the harness.
#pragma once

#include <gtest/gtest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "checkpoints/dtype.h"  // fp32_to_bf16 / bf16_to_fp32, fp32_to_fp16 / fp16_to_fp32: bit-exact
#include "kernels/cuda/check.h"  // SLM_CUDA_CHECK
#include "train/core/error.h"

#if defined(SLM_EMU_TESTS) && defined(SLM_HAVE_CUDA)
#error "SLM_EMU_TESTS (the harness build of the op tests) and SLM_HAVE_CUDA (the real slm_cuda) are exclusive"
#endif
#if !defined(SLM_EMU_TESTS)
#define SLM_EMU_TESTS 0
#endif

namespace slm::ops_test {

// --- 16-bit floats by their bits (bit_cast: the toolkit's types and the harness's alike) ---------
template <class T>
std::uint16_t bits_of(T v) {
  static_assert(sizeof(T) == 2, "a 16-bit float type");
  return std::bit_cast<std::uint16_t>(v);
}
template <class T>
T from_bits(std::uint16_t b) {
  static_assert(sizeof(T) == 2, "a 16-bit float type");
  return std::bit_cast<T>(b);
}

// f as T (float, __nv_bfloat16 or __half), rounded to nearest even; and back to float exactly.
template <class T>
T from_float(float f) {
  if constexpr (std::is_same_v<T, float>) return f;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return from_bits<T>(slm::fp32_to_bf16(f));
  else {
    static_assert(std::is_same_v<T, __half>, "float, __nv_bfloat16 or __half");
    return from_bits<T>(slm::fp32_to_fp16(f));
  }
}
inline float to_float(float f) { return f; }
inline float to_float(__nv_bfloat16 v) { return slm::bf16_to_fp32(bits_of(v)); }
inline float to_float(__half v) { return slm::fp16_to_fp32(bits_of(v)); }
inline __nv_bfloat16 to_bf16(float f) { return from_float<__nv_bfloat16>(f); }

// --- device arrays ------------------------------------------------------------------------------
inline constexpr std::size_t k_guard_elems = 64;

// n elements of device memory starting `offset` elements past cudaMalloc's alignment (256 bytes
// on both builds), with the `offset` elements before and k_guard_elems after the payload set to a
// guard value; guards_intact says whether a kernel wrote outside the payload. Moved by cudaMemcpy.
template <class T>
class DeviceArray {
  static_assert(std::is_trivially_copyable_v<T>, "device arrays hold plain values");

 public:
  // The payload `values`; guards `guard`.
  DeviceArray(const std::vector<T>& values, T guard, std::size_t offset = 0)
      : n_(values.size()), offset_(offset), guard_(guard) {
    allocate();
    std::vector<T> all(offset_, guard_);
    all.insert(all.end(), values.begin(), values.end());
    all.resize(total(), guard_);
    SLM_CUDA_CHECK(cudaMemcpy(base_, all.data(), total() * sizeof(T), cudaMemcpyHostToDevice));
  }
  // n copies of `fill`; guards `guard`.
  DeviceArray(std::size_t n, T fill, T guard, std::size_t offset = 0)
      : DeviceArray(std::vector<T>(n, fill), guard, offset) {}
  // n copies of `fill`, which guards as well.
  DeviceArray(std::size_t n, T fill) : DeviceArray(std::vector<T>(n, fill), fill, 0) {}
  ~DeviceArray() { cudaFree(base_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() { return base_ + offset_; }
  const T* get() const { return base_ + offset_; }
  std::size_t size() const { return n_; }

  // Overwrites the payload with `values` (n of them).
  void upload(const std::vector<T>& values) {
    SLM_CHECK(values.size() == n_, "device array of ", n_, " elements given ", values.size());
    SLM_CUDA_CHECK(cudaMemcpy(get(), values.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  // The payload (cudaMemcpy waits for the kernels on the default stream before it).
  std::vector<T> download() const {
    std::vector<T> v(n_);
    SLM_CUDA_CHECK(cudaMemcpy(v.data(), get(), n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  // Element i of the payload.
  T at(std::size_t i) const {
    SLM_CHECK(i < n_, "element ", i, " of a device array of ", n_);
    T v;
    SLM_CUDA_CHECK(cudaMemcpy(&v, get() + i, sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  // Whether the elements before and after the payload still hold the guard, bit for bit.
  bool guards_intact() const {
    std::vector<T> all(total());
    SLM_CUDA_CHECK(cudaMemcpy(all.data(), base_, total() * sizeof(T), cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < total(); ++i) {
      if (i >= offset_ && i < offset_ + n_) continue;
      if (std::memcmp(&all[i], &guard_, sizeof(T)) != 0) return false;
    }
    return true;
  }

 private:
  std::size_t total() const { return offset_ + n_ + k_guard_elems; }
  void allocate() { SLM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&base_), total() * sizeof(T))); }

  T* base_ = nullptr;
  std::size_t n_, offset_;
  T guard_;
};

// The slm::Error message a call throws ("" when it returns).
inline std::string error_message(const std::function<void()>& run) {
  try {
    run();
  } catch (const slm::Error& error) {
    return error.what();
  }
  return {};
}

}  // namespace slm::ops_test
