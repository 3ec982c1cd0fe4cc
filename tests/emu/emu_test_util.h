// emu_test_util.h — helpers for the harness tests: run a kernel under both schedules, expect a
// launch to fail with a message, and a scoped schedule setting.
// Does not hold: kernels (each test file has its own).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>

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

}  // namespace slm::emu::testing
