// fiber.h — the fibers that run CUDA threads: a 256 KiB stack with a guard page below, a saved
// Boost.Context fcontext, and the sanitizer annotations (ThreadSanitizer fibers without implicit
// synchronization, AddressSanitizer stack switches). A fiber runs its body in a loop, so one
// fiber serves one CUDA thread of many blocks; restart() abandons a run stopped by a fault.
// A stack overflow hits the guard page; the SIGSEGV handler (on an alternate stack) names the
// CUDA thread before the process ends.
//
// Does not hold: scheduling (harness.cpp decides which fiber runs and when).
#pragma once

#include <cstddef>

namespace slm::emu {

constexpr std::size_t k_stack_bytes = 256 * 1024;

// The OS thread side of its fibers: where they return to.
struct FiberHost {
  void* tsan_self = nullptr;              // sanitizer build: the OS thread's own TSan context
  const void* scheduler_stack = nullptr;  // AddressSanitizer build: the OS thread's own stack
  std::size_t scheduler_stack_bytes = 0;
};

// Prepares the calling OS thread to run fibers (once per thread): its TSan context, an alternate
// signal stack and the overflow handler.
void prepare_fiber_host(FiberHost& host);

class Fiber {
 public:
  using Body = void (*)(Fiber& fiber);  // one run; the fiber yields back after each
  Fiber(FiberHost& host, Body body, void* owner);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  void resume();   // host side: run until the fiber yields or its run ends
  void yield();    // fiber side: back to the host; returns when resumed
  void restart();  // host side: forget a suspended run; the next resume starts a new one

  void* owner;     // the harness's per-OS-thread state
  int thread = 0;  // the CUDA thread (linear index in its block) of the current run

  [[noreturn]] void enter(void* caller);  // internal: the first frame on the fiber's stack

 private:
  void start();
  FiberHost& host_;
  Body body_;
  void* mapping_ = nullptr;
  std::size_t mapping_bytes_ = 0;
  void* context_ = nullptr;  // where to resume it
  void* caller_ = nullptr;   // where it returns to
  void* tsan_fiber_ = nullptr;
};

// The fiber running on the calling OS thread (null on the host side).
Fiber* current_fiber();

}  // namespace slm::emu
