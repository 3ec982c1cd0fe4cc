// harness.h — the CPU execution harness that runs kernels/cuda/*.cu without a GPU: its launch
// entry point, the per-thread state a running CUDA thread sees, and the entry points the shim
// (kernels/emu/cuda_shim.h) and the PTX wrappers (kernels/cuda/ptx.cuh) call.
//
// Model: every CUDA thread is a fiber (Boost.Context fcontext, pooled stacks with guard pages);
// the threads of one block run cooperatively on one OS thread and switch only at barriers and
// warp collectives; blocks are spread over a few OS threads. Shared memory is per block and
// poisoned (0xFF bytes: NaN as fp32, bf16 and fp16) before every block. A misuse (divergent or
// deadlocked barrier, bad member mask, out-of-bounds shared access, misaligned ldmatrix, a read
// of a cp.async destination before its wait) stops the block, and the launch throws slm::Error
// naming the kernel, the block, the threads and the source line.
//
// Does not hold: the CUDA names kernels use (cuda_shim.h), the runtime stand-ins (runtime.h),
// the fibers (fiber.h) and the scheduler (harness.cpp), the collectives (warp.cpp, memory.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <source_location>
#include <stdexcept>
#include <string>

#include "kernels/emu/types.h"

namespace slm::emu {

using Site = std::source_location;

// A misuse detected inside a running CUDA thread; thrown through the kernel's frames to the
// fiber's entry, where the harness turns it into the launch's slm::Error.
class KernelFault : public std::runtime_error {
 public:
  explicit KernelFault(const std::string& message) : std::runtime_error(message) {}
};

// The order in which the threads of a block are resumed on each pass of its scheduler: by
// thread index, reversed, or a pseudo-random permutation per pass (seeded, reproducible). A
// race-free kernel gives identical results under all; tests run kernels under several to expose
// missing barriers.
enum class Schedule { forward, reverse, shuffled };

struct Block;  // harness.cpp

// What one running CUDA thread sees: its indices (threadIdx & co. read these), its block, and
// the harness's bookkeeping of where it waits.
struct ThreadCtx {
  uint3 thread_idx{};
  uint3 block_idx{};
  dim3 block_dim;
  dim3 grid_dim;
  int linear = 0;  // threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)
  int lane = 0;    // linear % 32
  int warp = 0;    // linear / 32
  Block* block = nullptr;
};

// The CUDA thread the calling fiber runs (only valid inside a kernel).
ThreadCtx& this_thread();
// The same, or null outside a kernel (for the stack-overflow report).
const ThreadCtx* running_thread();

// --- launching --------------------------------------------------------------------------------
struct LaunchConfig {
  dim3 grid;
  dim3 block;
  std::size_t dynamic_shared = 0;
  const void* kernel = nullptr;  // for its name in messages
};

// Runs `thread_body` once per CUDA thread of the grid and returns when all blocks are done.
// Throws slm::Error for a bad configuration or a kernel fault.
void launch_kernel(const LaunchConfig& config, const std::function<void()>& thread_body);

// Harness settings; the environment sets their defaults:
// SLM_EMU_SCHEDULE=forward|reverse|shuffled[:seed], SLM_EMU_THREADS=<OS threads running blocks>
// (default: the machine's cores).
void set_schedule(Schedule schedule, std::uint64_t seed = 1);
Schedule schedule();
std::uint64_t schedule_seed();
void set_worker_threads(int count);

// The demangled name of a kernel function (best effort: the ELF symbol table of the program).
std::string kernel_name(const void* kernel);

// --- barriers and warp collectives (warp.cpp) ----------------------------------------------------
void sync_block(const Site& site);
int sync_block_count(bool predicate, const Site& site);  // __syncthreads_count: threads with predicate
enum class ShflMode { idx, up, down, bxor };
std::uint64_t warp_shfl(ShflMode mode, unsigned mask, std::uint64_t value, int operand, int width,
                        const Site& site);
enum class VoteMode { ballot, any, all };
unsigned warp_vote(VoteMode mode, unsigned mask, bool predicate, const Site& site);
void warp_sync(unsigned mask, const Site& site);

// --- tensor-core and copy instructions (warp.cpp, memory.cpp) -------------------------------------
enum class MmaInput { bf16, f16 };
// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32: d = a * b + c for one warp.
void mma_m16n8k16(MmaInput input, float (&d)[4], const std::uint32_t (&a)[4],
                  const std::uint32_t (&b)[2], const float (&c)[4], const Site& site);
// ldmatrix.sync.aligned.m8n8.x{count}{.trans}.shared.b16: this lane's row address, out[count].
void ldmatrix(int count, bool trans, const void* row, std::uint32_t* out, const Site& site);
// cp.async.{ca,cg}.shared.global: bytes in {4, 8, 16}; bytes past src_bytes are zero-filled.
void cp_async(void* dst, const void* src, int bytes, int src_bytes, const Site& site);
void cp_async_commit(const Site& site);
void cp_async_wait(int pending_groups, const Site& site);  // wait_group N (wait_all: commit, 0)

// --- shared memory (memory.cpp) -------------------------------------------------------------------
// One static __shared__ array declaration; SLM_SHARED makes one per declaration site.
struct SharedSite {
  const char* name;
  std::size_t bytes;
};
void* shared_static(const SharedSite& site);            // same address for every thread of a block
void* shared_dynamic(std::size_t* bytes);               // the launch's dynamic shared memory
// `site` may be null: element access through operator[] cannot know the kernel's line.
[[noreturn]] void shared_out_of_bounds(const char* name, long long index, std::size_t count,
                                       std::size_t element_bytes, const Site* site);
void shared_access_check(const void* address, std::size_t bytes, const char* name, const Site* site);
bool shared_pending_copies();  // any cp.async destination of this block not yet waited for

// A bounds-checked view of one shared array: element access checks the index and that the
// bytes are not the destination of a cp.async still pending. Converts to T* for everything
// else (the PTX wrappers check their own addresses).
template <typename T>
class SharedArray {
 public:
  SharedArray(T* data, std::size_t count, const char* name) : data_(data), count_(count), name_(name) {}
  template <typename I>
  T& operator[](I index) const {
    const auto i = static_cast<long long>(index);
    if (i < 0 || static_cast<std::size_t>(i) >= count_) shared_out_of_bounds(name_, i, count_, sizeof(T), nullptr);
    if (shared_pending_copies()) shared_access_check(data_ + i, sizeof(T), name_, nullptr);
    return data_[i];
  }
  template <typename I>
  T* operator+(I offset) const {
    const auto i = static_cast<long long>(offset);
    if (i < 0 || static_cast<std::size_t>(i) > count_) shared_out_of_bounds(name_, i, count_, sizeof(T), nullptr);
    return data_ + i;
  }
  operator T*() const { return data_; }  // NOLINT: arrays decay to pointers under nvcc too
  T* data() const { return data_; }
  std::size_t size() const { return count_; }

 private:
  T* data_;
  std::size_t count_;
  const char* name_;
};

template <typename T>
SharedArray<T> shared_array(const SharedSite& site, std::size_t count) {
  return SharedArray<T>(static_cast<T*>(shared_static(site)), count, site.name);
}
template <typename T>
SharedArray<T> dynamic_shared_array() {
  std::size_t bytes = 0;
  T* data = static_cast<T*>(shared_dynamic(&bytes));
  return SharedArray<T>(data, bytes / sizeof(T), "dynamic shared memory");
}

}  // namespace slm::emu
