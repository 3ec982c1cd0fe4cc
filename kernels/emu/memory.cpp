// memory.cpp — a block's shared memory (the dynamic region and one region per static array, each
// poisoned when it appears and followed by a checked redzone) and cp.async with its groups.
//
// cp.async is performed as late as the rules allow: at issue the destination is poisoned and its
// words are marked pending in a shadow map; cp.async.wait_group copies the completed groups.
// Element access through SharedArray and ldmatrix consult the shadow map, so reading (or
// writing) a destination before its wait is reported with the thread and line that issued it.
// Does not hold: the collectives (warp.cpp) or the scheduler (harness.cpp).
#include <algorithm>
#include <cstring>
#include <sstream>

#include "kernels/emu/internal.h"

namespace slm::emu {
namespace {

std::size_t round_up(std::size_t v, std::size_t to) { return (v + to - 1) / to * to; }

SharedAllocation& allocate(Block& block, const SharedSite* site, const char* name, std::size_t bytes) {
  const std::size_t offset = round_up(block.shared_used, 128);
  const std::size_t end = offset + round_up(bytes, 16) + k_redzone_bytes;
  if (end > block.shared_capacity)
    fault(std::string("shared memory exhausted allocating ") + name + " (" + std::to_string(bytes) + " bytes)");
  harness_fill(block.shared + offset, k_poison, bytes);
  harness_fill(block.shared + offset + bytes, k_redzone, end - offset - bytes);
  block.shared_used = end;
  block.allocations.push_back(SharedAllocation{site, name, offset, bytes});
  return block.allocations.back();
}

std::string hex_offset(std::size_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

void perform(Block& block, const PendingCopy& copy) {
  auto* dst = static_cast<unsigned char*>(copy.dst);
  const std::size_t word = static_cast<std::size_t>(dst - block.shared) / 4;
  for (int w = 0; w < copy.bytes / 4; ++w) --block.pending_shadow[word + static_cast<std::size_t>(w)];
  block.pending_words -= static_cast<std::size_t>(copy.bytes / 4);
  if (copy.src_bytes > 0) {
    tsan_read(copy.src, static_cast<std::size_t>(copy.src_bytes));
    std::memcpy(dst, copy.src, static_cast<std::size_t>(copy.src_bytes));
  }
  std::memset(dst + copy.src_bytes, 0, static_cast<std::size_t>(copy.bytes - copy.src_bytes));
  tsan_write(dst, static_cast<std::size_t>(copy.bytes));
}

// Completes the oldest copies of `state` up to index `upto` (exclusive).
void complete_copies(Block& block, ThreadState& state, std::size_t upto) {
  for (std::size_t i = 0; i < upto; ++i) perform(block, state.copies[i]);
  state.copies.erase(state.copies.begin(), state.copies.begin() + static_cast<std::ptrdiff_t>(upto));
  for (std::size_t& end : state.group_ends) end -= std::min(end, upto);
}

}  // namespace

void shared_reset(Block& block) {
  block.allocations.clear();
  block.shared_used = 0;
  block.static_bytes = 0;
  allocate(block, nullptr, "dynamic shared memory", block.config->dynamic_shared);
  const std::size_t words = block.shared_capacity / 4;
  if (block.pending_shadow.size() != words || block.pending_words != 0) block.pending_shadow.assign(words, 0);
  block.pending_words = 0;
}

void* shared_static(const SharedSite& site) {
  Block& block = this_block();
  for (const SharedAllocation& a : block.allocations)
    if (a.site == &site) return block.shared + a.offset;
  block.static_bytes += site.bytes;
  if (block.static_bytes > k_max_static_shared)
    fault(std::string("static shared memory exceeds 48 KiB with ") + site.name + " (" + std::to_string(site.bytes) +
          " bytes); use dynamic shared memory for more");
  if (block.static_bytes + block.config->dynamic_shared > k_max_shared)
    fault(std::string("static (") + std::to_string(block.static_bytes) + " bytes with " + site.name +
          ") and dynamic (" + std::to_string(block.config->dynamic_shared) + " bytes) shared memory exceed the " +
          std::to_string(k_max_shared) + " bytes of a block");
  return block.shared + allocate(block, &site, site.name, site.bytes).offset;
}

void* shared_dynamic(std::size_t* bytes) {
  Block& block = this_block();
  *bytes = block.allocations.front().bytes;
  return block.shared + block.allocations.front().offset;
}

const SharedAllocation* shared_find(const Block& block, const void* address, std::size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(address);
  if (p < block.shared || p >= block.shared + block.shared_capacity) return nullptr;
  const auto offset = static_cast<std::size_t>(p - block.shared);
  for (const SharedAllocation& a : block.allocations)
    if (offset >= a.offset && offset + bytes <= a.offset + a.bytes) return &a;
  return nullptr;
}

void shared_out_of_bounds(const char* name, long long index, std::size_t count, std::size_t element_bytes,
                          const Site* site) {
  fault("out-of-bounds shared memory access: index " + std::to_string(index) + " of " + name + "[" +
        std::to_string(count) + "] (" + std::to_string(element_bytes) + "-byte elements)" +
        (site ? " at " + describe_site(*site) : std::string()));
}

bool shared_pending_copies() { return this_block().pending_words != 0; }

void shared_access_check(const void* address, std::size_t bytes, const char* name, const Site* site) {
  Block& block = this_block();
  if (block.pending_words == 0) return;
  const auto* p = static_cast<const unsigned char*>(address);
  if (p < block.shared || p + bytes > block.shared + block.shared_capacity) return;
  const auto offset = static_cast<std::size_t>(p - block.shared);
  for (std::size_t w = offset / 4; w < (offset + bytes + 3) / 4; ++w) {
    if (!block.pending_shadow[w]) continue;
    std::string issuer = "another thread";
    for (int i = 0; i < block.threads; ++i)
      for (const PendingCopy& c : block.state[i].copies) {
        const auto* d = static_cast<const unsigned char*>(c.dst);
        if (p < d + c.bytes && d < p + bytes)
          issuer = "thread " + std::to_string(i) + " at " + describe_site(c.site);
      }
    fault(std::string("access to ") + name + " at shared offset " + hex_offset(offset) +
          (site ? " (" + describe_site(*site) + ")" : std::string()) +
          " reads a cp.async destination before its wait: the copy issued by " + issuer +
          " is still pending (cp.async.wait_group, then __syncthreads for other threads)");
  }
}

std::string shared_redzone_report(const Block& block) {
  for (const SharedAllocation& a : block.allocations) {
    const std::size_t start = a.offset + a.bytes;
    const std::size_t end = a.offset + round_up(a.bytes, 16) + k_redzone_bytes;
    for (std::size_t i = start; i < end; ++i)
      if (block.shared[i] != k_redzone)
        return std::string("a write past the end of shared array ") + a.name + " (" + std::to_string(a.bytes) +
               " bytes) changed byte " + std::to_string(i - a.offset) + " after it (found when the block ended)";
  }
  return {};
}

// --- cp.async ------------------------------------------------------------------------------------
void cp_async(void* dst, const void* src, int bytes, int src_bytes, const Site& site) {
  Block& block = this_block();
  auto fail = [&](const std::string& what) { fault("cp.async at " + describe_site(site) + ": " + what); };
  if (bytes != 4 && bytes != 8 && bytes != 16) fail("copy size " + std::to_string(bytes) + " (4, 8 or 16)");
  if (src_bytes < 0 || src_bytes > bytes) fail("src-size " + std::to_string(src_bytes) + " outside 0.." + std::to_string(bytes));
  const auto d = reinterpret_cast<std::uintptr_t>(dst), s = reinterpret_cast<std::uintptr_t>(src);
  const auto size = static_cast<unsigned>(bytes);
  if (d % size || s % size)
    fail(std::to_string(bytes) + "-byte copy with a misaligned " + (d % size ? "shared destination" : "global source"));
  if (!shared_find(block, dst, static_cast<std::size_t>(bytes)))
    fail("the destination is not inside one shared array of this block");
  const std::size_t word = static_cast<std::size_t>(static_cast<unsigned char*>(dst) - block.shared) / 4;
  for (int w = 0; w < bytes / 4; ++w)
    if (block.pending_shadow[word + static_cast<std::size_t>(w)]) fail("the destination overlaps another cp.async still pending");
  for (int w = 0; w < bytes / 4; ++w) ++block.pending_shadow[word + static_cast<std::size_t>(w)];
  block.pending_words += static_cast<std::size_t>(bytes / 4);
  harness_fill(dst, k_poison, static_cast<std::size_t>(bytes));
  this_state().copies.push_back(PendingCopy{dst, src, bytes, src_bytes, site});
}

void cp_async_commit(const Site&) {
  ThreadState& state = this_state();
  state.group_ends.push_back(state.copies.size());
}

void cp_async_wait(int pending_groups, const Site& site) {
  if (pending_groups < 0) fault("cp.async.wait_group at " + describe_site(site) + " with a negative count");
  ThreadState& state = this_state();
  const auto groups = static_cast<int>(state.group_ends.size());
  if (groups <= pending_groups) return;
  const std::size_t upto = state.group_ends[static_cast<std::size_t>(groups - pending_groups - 1)];
  state.group_ends.erase(state.group_ends.begin(), state.group_ends.begin() + (groups - pending_groups));
  complete_copies(this_block(), state, upto);
}

void cp_async_flush(Block& block, ThreadState& state) {
  complete_copies(block, state, state.copies.size());
  state.group_ends.clear();
}

}  // namespace slm::emu
