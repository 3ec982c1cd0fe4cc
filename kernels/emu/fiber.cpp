// fiber.cpp — the fibers of fiber.h: mmap'ed stacks with a guard page, fcontext switches, the
// sanitizer annotations, and the stack-overflow report.
// Does not hold: what a fiber runs (harness.cpp gives the body).
#include "kernels/emu/fiber.h"

#include <signal.h>  // sigaction, sigaltstack
#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>  // make_fcontext, jump_fcontext: the raw context switch
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "kernels/emu/harness.h"
#include "train/core/error.h"

#if defined(__SANITIZE_ADDRESS__)  // the AddressSanitizer build (SLM_ASAN) must know the stacks
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SLM_EMU_ASAN 1
#else
#define SLM_EMU_ASAN 0
#endif

#if SLM_EMU_TSAN
extern "C" {
void* __tsan_get_current_fiber();
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
}
#endif

namespace slm::emu {
namespace bctx = boost::context::detail;
namespace {

thread_local Fiber* tl_fiber = nullptr;

std::size_t page_bytes() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

void fiber_entry(bctx::transfer_t transfer) { static_cast<Fiber*>(transfer.data)->enter(transfer.fctx); }

// --- a fiber stack overflow: the guard page faults; the handler names the CUDA thread ----------------
struct sigaction g_previous_segv;
thread_local const void* tl_guard = nullptr;  // the running fiber's guard page

void on_segv(int signal, siginfo_t* info, void* context) {
  const auto* address = static_cast<const char*>(info->si_addr);
  const auto* guard = static_cast<const char*>(tl_guard);
  const ThreadCtx* t = running_thread();
  if (guard && t && address >= guard && address < guard + page_bytes()) {
    char message[256];
    const int length = std::snprintf(message, sizeof(message),
                                     "emulation harness: the stack of CUDA thread %d of block (%u,%u,%u) overflowed "
                                     "its %zu KiB (large local arrays or deep recursion in the kernel)\n",
                                     t->linear, t->block_idx.x, t->block_idx.y, t->block_idx.z, k_stack_bytes / 1024);
    if (length > 0) (void)!write(2, message, static_cast<std::size_t>(length));
  } else if (g_previous_segv.sa_flags & SA_SIGINFO) {
    if (g_previous_segv.sa_sigaction) return g_previous_segv.sa_sigaction(signal, info, context);
  } else if (g_previous_segv.sa_handler != SIG_DFL && g_previous_segv.sa_handler != SIG_IGN) {
    return g_previous_segv.sa_handler(signal);
  }
  ::signal(SIGSEGV, SIG_DFL);  // returning re-runs the access, which now ends the process
}

}  // namespace

void prepare_fiber_host([[maybe_unused]] FiberHost& host) {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &g_previous_segv);
  });
  // The overflowing stack cannot run the handler: give this thread an alternate one, unless a
  // sanitizer already did.
  thread_local std::vector<char> alternate;
  stack_t current{};
  if (alternate.empty() && sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
    alternate.resize(64 * 1024);
    stack_t stack{};
    stack.ss_sp = alternate.data();
    stack.ss_size = alternate.size();
    sigaltstack(&stack, nullptr);
  }
#if SLM_EMU_TSAN
  if (!host.tsan_self) host.tsan_self = __tsan_get_current_fiber();
#endif
}

Fiber* current_fiber() { return tl_fiber; }

Fiber::Fiber(FiberHost& host, Body body, void* owner_state) : owner(owner_state), host_(host), body_(body) {
  const std::size_t page = page_bytes();
  mapping_bytes_ = k_stack_bytes + page;
  mapping_ = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                  -1, 0);
  if (mapping_ == MAP_FAILED) SLM_FAIL("emulation harness: cannot map a fiber stack (", std::strerror(errno), ")");
  if (mprotect(mapping_, page, PROT_NONE) != 0)  // guard page: an overflow faults at once
    SLM_FAIL("emulation harness: cannot protect a fiber stack's guard page (", std::strerror(errno), ")");
  start();
}

Fiber::~Fiber() {
#if SLM_EMU_TSAN
  if (tsan_fiber_) __tsan_destroy_fiber(tsan_fiber_);
#endif
  if (mapping_) munmap(mapping_, mapping_bytes_);
}

void Fiber::start() {
  const std::size_t page = page_bytes();
#if SLM_EMU_ASAN
  // An abandoned run's frames never returned: clear their redzones before the stack is reused.
  __asan_unpoison_memory_region(static_cast<char*>(mapping_) + page, mapping_bytes_ - page);
#endif
  context_ = bctx::make_fcontext(static_cast<char*>(mapping_) + mapping_bytes_, mapping_bytes_ - page, fiber_entry);
#if SLM_EMU_TSAN
  if (tsan_fiber_) __tsan_destroy_fiber(tsan_fiber_);
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
}

void Fiber::restart() { start(); }

void Fiber::resume() {
#if SLM_EMU_TSAN
  __tsan_switch_to_fiber(tsan_fiber_, 1 /* no_sync: the harness says what synchronizes */);
#endif
#if SLM_EMU_ASAN
  void* fake_stack = nullptr;
  const std::size_t page = page_bytes();
  __sanitizer_start_switch_fiber(&fake_stack, static_cast<char*>(mapping_) + page, mapping_bytes_ - page);
#endif
  tl_fiber = this;
  tl_guard = mapping_;
  const bctx::transfer_t back = bctx::jump_fcontext(context_, this);
  tl_fiber = nullptr;
  tl_guard = nullptr;
#if SLM_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  context_ = back.fctx;
}

void Fiber::yield() {
#if SLM_EMU_TSAN
  __tsan_switch_to_fiber(host_.tsan_self, 1);
#endif
#if SLM_EMU_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, host_.scheduler_stack, host_.scheduler_stack_bytes);
#endif
  const bctx::transfer_t back = bctx::jump_fcontext(caller_, nullptr);
#if SLM_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, &host_.scheduler_stack, &host_.scheduler_stack_bytes);
#endif
  caller_ = back.fctx;
}

void Fiber::enter(void* caller) {
#if SLM_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &host_.scheduler_stack, &host_.scheduler_stack_bytes);
#endif
  caller_ = caller;
  for (;;) {
    body_(*this);
    yield();
  }
}

}  // namespace slm::emu
