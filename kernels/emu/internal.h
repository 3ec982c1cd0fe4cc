// internal.h — the harness's own state, shared by its .cpp files: a block in flight (its threads,
// where each waits, its warps' open collectives, its shared memory and pending cp.async copies),
// the fault reporting, and the ThreadSanitizer annotations of the sanitizer build.
//
// Does not hold: anything kernels include (harness.h, cuda_shim.h are their side).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/emu/harness.h"

#if SLM_EMU_TSAN
extern "C" {
void __tsan_acquire(void* address);
void __tsan_release(void* address);
void __tsan_read_range(void* address, unsigned long size);
void __tsan_write_range(void* address, unsigned long size);
void AnnotateIgnoreWritesBegin(const char* file, int line);
void AnnotateIgnoreWritesEnd(const char* file, int line);
}
#endif
#include <cstring>

namespace slm::emu {

// The sanitizer build compiles the harness uninstrumented (its bookkeeping is touched by every
// fiber) and tells ThreadSanitizer only what the emulated hardware orders and accesses.
inline void tsan_acquire([[maybe_unused]] void* token) {
#if SLM_EMU_TSAN
  __tsan_acquire(token);
#endif
}
inline void tsan_release([[maybe_unused]] void* token) {
#if SLM_EMU_TSAN
  __tsan_release(token);
#endif
}
inline void tsan_read([[maybe_unused]] const void* address, [[maybe_unused]] std::size_t bytes) {
#if SLM_EMU_TSAN
  __tsan_read_range(const_cast<void*>(address), bytes);
#endif
}
inline void tsan_write([[maybe_unused]] void* address, [[maybe_unused]] std::size_t bytes) {
#if SLM_EMU_TSAN
  __tsan_write_range(address, bytes);
#endif
}

// The harness's own writes into kernel memory (poison, redzones): invisible to the race checker.
inline void harness_fill(void* address, unsigned char byte, std::size_t bytes) {
#if SLM_EMU_TSAN
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
  std::memset(address, byte, bytes);
#if SLM_EMU_TSAN
  AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
}

constexpr unsigned char k_poison = 0xFF;   // fresh shared memory and pending cp.async bytes
constexpr unsigned char k_redzone = 0xFD;  // the bytes after each shared array
constexpr std::size_t k_redzone_bytes = 64;
constexpr std::size_t k_max_shared = 227 * 1024;  // sm_90's opt-in maximum per block
constexpr std::size_t k_max_static_shared = 48 * 1024;

enum class Wait : std::uint8_t { runnable, barrier, collective, done };

enum class Op : std::uint8_t { shfl, vote, syncwarp, mma, ldmatrix };
const char* op_name(Op op);

struct PendingCopy {
  void* dst;
  const void* src;
  int bytes;
  int src_bytes;
  Site site;
};

// Harness-side state of one CUDA thread, beside its ThreadCtx.
struct ThreadState {
  Wait wait = Wait::runnable;
  Site site;                  // the barrier or collective it waits at
  const void* in = nullptr;   // its collective operand
  void* out = nullptr;        // where its collective result goes
  std::uint32_t barrier_generation = 0;
  std::vector<PendingCopy> copies;      // issued cp.async copies, oldest first
  std::vector<std::size_t> group_ends;  // committed groups: end index into copies
};

// One collective a set of lanes has started: matched by member mask, op and operand.
struct Collective {
  Op op;
  int param;        // shfl mode and width, vote mode, mma input type, ldmatrix count and .trans
  unsigned mask;    // member mask
  unsigned arrived; // lanes that reached it
  Site site;        // the first lane's call
};

struct Warp {
  unsigned existing = 0;  // lanes that exist (a block's last warp may be partial)
  unsigned exited = 0;    // lanes whose thread returned
  std::vector<Collective> open;
};

struct SharedAllocation {
  const SharedSite* site;  // nullptr for the dynamic shared memory
  const char* name;
  std::size_t offset;
  std::size_t bytes;
};

struct Block {
  const LaunchConfig* config = nullptr;
  uint3 idx{};
  int threads = 0;
  std::vector<ThreadCtx> ctx;
  std::vector<ThreadState> state;
  std::vector<Warp> warps;
  int barrier_arrived = 0;
  std::uint32_t barrier_generation = 0;
  int barrier_count[2] = {0, 0};   // __syncthreads_count predicates, by generation parity
  int barrier_result[2] = {0, 0};
  int exited = 0;
  bool faulted = false;
  std::string fault;
  // Shared memory: [dynamic][redzone][static array][redzone]...; shadow counts pending
  // cp.async copies per 4-byte word.
  unsigned char* shared = nullptr;
  std::size_t shared_capacity = 0;
  std::size_t shared_used = 0;
  std::size_t static_bytes = 0;
  std::vector<SharedAllocation> allocations;
  std::vector<std::uint8_t> pending_shadow;
  std::size_t pending_words = 0;
  // ThreadSanitizer sync tokens: block start, barrier generations (two, alternating), warps.
  unsigned char start_token = 0;
  unsigned char barrier_token[2] = {0, 0};
  std::vector<unsigned char> warp_tokens;
};

// The block the calling fiber runs, and its harness-side state.
inline Block& this_block() { return *this_thread().block; }
inline ThreadState& this_state() { return this_block().state[this_thread().linear]; }

// Throws KernelFault with "kernel K, block (x,y,z), thread T (lane L of warp W): message".
[[noreturn]] void fault(const std::string& message);
std::string describe_block(const Block& block);
std::string describe_threads(const std::vector<int>& threads);  // "threads 0-15, 32"
std::string describe_site(const Site& site);
std::string describe_lanes(unsigned lanes);  // "lanes 0-3, 8"
bool same_site(const Site& a, const Site& b);

// The calling fiber gives control back to the block's scheduler until it is runnable again.
void yield_to_scheduler();

// Block lifecycle hooks of the other parts.
void shared_reset(Block& block);                       // poisons the dynamic memory, clears arrays
std::string shared_redzone_report(const Block& block);  // "" when every redzone is intact
void cp_async_flush(Block& block, ThreadState& state);  // a thread exits: its copies complete
void warp_lane_exited(Block& block, int linear);       // collectives may complete or be broken
std::string stall_report(const Block& block);          // why no thread can run
const SharedAllocation* shared_find(const Block& block, const void* address, std::size_t bytes);

}  // namespace slm::emu
