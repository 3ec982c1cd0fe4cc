// emu_test_util.h — helpers for the harness tests: a scoped schedule setting, expecting a launch
// to fail with a message, and 16-byte aligned buffers with guard elements after the payload.
// Does not hold: kernels (each test file has its own).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/emu/harness.h"
#include "train/core/error.h"

namespace slm::emu::testing {

// Sets the schedule for its lifetime and restores the previous one.
class ScopedSchedule {
 public:
  explicit ScopedSchedule(Schedule s, std::uint64_t seed = 1) : previous_(schedule()), seed_(schedule_seed()) {
    set_schedule(s, seed);
  }
  ~ScopedSchedule() { set_schedule(previous_, seed_); }
  ScopedSchedule(const ScopedSchedule&) = delete;
  ScopedSchedule& operator=(const ScopedSchedule&) = delete;

 private:
  Schedule previous_;
  std::uint64_t seed_;
};

// The launch's error message ("" when it succeeded).
inline std::string launch_error(const std::function<void()>& run) {
  try {
    run();
  } catch (const slm::Error& error) {
    return error.what();
  }
  return {};
}

// 16-byte aligned storage of n elements followed by k_guard_elems guard elements, all set to
// `fill`; guard_intact says whether a kernel wrote past the payload.
inline constexpr std::size_t k_guard_elems = 64;
template <class T>
struct Aligned {
  Aligned(std::size_t n, T fill) : n(n), data(n + k_guard_elems + 16, fill) {}
  T* get() {
    auto p = reinterpret_cast<std::uintptr_t>(data.data());
    return reinterpret_cast<T*>((p + 15) / 16 * 16);
  }
  bool guard_intact(T fill) {
    for (std::size_t i = n; i < n + k_guard_elems; ++i)
      if (std::memcmp(&get()[i], &fill, sizeof(T)) != 0) return false;
    return true;
  }
  std::size_t n;
  std::vector<T> data;
};

}  // namespace slm::emu::testing
