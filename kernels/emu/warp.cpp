// warp.cpp — __syncthreads and the warp collectives: shuffles, votes, __syncwarp, mma.sync and
// ldmatrix, each a rendezvous of the lanes named by its member mask (all 32 for the .aligned
// tensor-core instructions), and the report of a block where no thread can run.
//
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k16" and "ldmatrix"): with
// g = lane >> 2 and t = lane % 4, a 32-bit register holds two 16-bit elements, the lower-numbered
// one in bits 15:0.
//   A (16x16, row-major), a0..a7 in 4 regs: row g + 8 * ((i >> 1) & 1), col 2t + (i & 1) + 8 * (i >= 4)
//   B (16x8, k x n),      b0..b3 in 2 regs: row 2t + (i & 1) + 8 * (i >= 2), col g
//   C, D (16x8, fp32),    c0..c3:           row g + 8 * (i >= 2), col 2t + (i & 1)
//   ldmatrix: lanes 8j..8j+7 address the rows of matrix j; register j of lane l holds row l / 4,
//   cols 2(l % 4), 2(l % 4) + 1 of matrix j (with .trans: col l / 4, rows 2(l % 4), 2(l % 4) + 1).
// Does not hold: the independent tables the self-tests check these against (tests/emu).
#include <algorithm>
#include <cstring>
#include <sstream>

#include "kernels/emu/internal.h"

namespace slm::emu {

const char* op_name(Op op) {
  switch (op) {
    case Op::shfl: return "__shfl*_sync";
    case Op::vote: return "__ballot/__any/__all_sync";
    case Op::syncwarp: return "__syncwarp";
    case Op::mma: return "mma.sync.m16n8k16";
    case Op::ldmatrix: return "ldmatrix";
  }
  return "?";
}

// --- __syncthreads -------------------------------------------------------------------------------
int sync_block_count(bool predicate, const Site& site) {
  Block& block = this_block();
  ThreadState& me = this_state();
  if (block.exited > 0) {
    std::vector<int> gone;
    for (int i = 0; i < block.threads; ++i)
      if (block.state[i].wait == Wait::done) gone.push_back(i);
    fault("__syncthreads at " + describe_site(site) + " while " + describe_threads(gone) +
          " of the block have returned: a barrier in divergent code");
  }
  const std::uint32_t generation = block.barrier_generation;
  tsan_release(&block.barrier_token[generation & 1]);
  block.barrier_count[generation & 1] += predicate ? 1 : 0;
  me.wait = Wait::barrier;
  me.site = site;
  if (++block.barrier_arrived == block.threads) {
    // Everyone arrived: all at the same __syncthreads, or the barrier is divergent.
    std::vector<int> here, elsewhere;
    Site other = site;
    for (int i = 0; i < block.threads; ++i) {
      if (same_site(block.state[i].site, site)) {
        here.push_back(i);
      } else {
        elsewhere.push_back(i);
        other = block.state[i].site;
      }
    }
    if (!elsewhere.empty())
      fault("divergent barrier: " + describe_threads(here) + " at __syncthreads " + describe_site(site) + ", " +
            describe_threads(elsewhere) + " at __syncthreads " + describe_site(other));
    for (int i = 0; i < block.threads; ++i) block.state[i].wait = Wait::runnable;
    block.barrier_arrived = 0;
    block.barrier_result[generation & 1] = block.barrier_count[generation & 1];
    block.barrier_count[generation & 1] = 0;
    ++block.barrier_generation;
  } else {
    yield_to_scheduler();
  }
  tsan_acquire(&block.barrier_token[generation & 1]);
  // Generation g + 2, which reuses this slot, cannot complete before every thread is past g.
  return block.barrier_result[generation & 1];
}

void sync_block(const Site& site) { sync_block_count(false, site); }

// --- the rendezvous ------------------------------------------------------------------------------
namespace {

struct ShflIn {
  std::uint64_t value;
};
struct MmaIn {
  const std::uint32_t* a;
  const std::uint32_t* b;
  const float* c;
};
struct RowIn {
  unsigned char bytes[16];
};

int shfl_source(ShflMode mode, int lane, int operand, int width) {
  const int segment = lane & ~(width - 1);
  switch (mode) {
    case ShflMode::idx: return segment + (operand & (width - 1));
    case ShflMode::up: return (lane - segment) >= operand ? lane - operand : lane;
    case ShflMode::down: return (lane - segment) + operand < width ? lane + operand : lane;
    case ShflMode::bxor: {
      const int source = lane ^ operand;
      return source >= segment + width ? lane : source;
    }
  }
  return lane;
}

std::uint16_t half_of(std::uint32_t reg, int high) { return static_cast<std::uint16_t>(high ? reg >> 16 : reg); }

float element(MmaInput input, std::uint16_t bits) {
  return input == MmaInput::bf16 ? bf16_bits_to_float(bits) : half_bits_to_float(bits);
}

void complete_mma(Block& block, int warp, const Collective& c) {
  float a[16][16], b[16][8], acc[16][8];
  const auto input = static_cast<MmaInput>(c.param);
  for (int lane = 0; lane < 32; ++lane) {
    const auto* in = static_cast<const MmaIn*>(block.state[32 * warp + lane].in);
    const int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 8; ++i)
      a[g + 8 * ((i >> 1) & 1)][2 * t + (i & 1) + 8 * (i >= 4)] = element(input, half_of(in->a[i / 2], i & 1));
    for (int i = 0; i < 4; ++i)
      b[2 * t + (i & 1) + 8 * (i >= 2)][g] = element(input, half_of(in->b[i / 2], i & 1));
    for (int i = 0; i < 4; ++i) acc[g + 8 * (i >= 2)][2 * t + (i & 1)] = in->c[i];
  }
  // Products of 16-bit inputs are exact; each dot product is summed in double in k order and
  // rounded once (the ISA leaves the order and the internal precision open, at least fp32).
  // The loop runs across n innermost so the eight sums of a row proceed side by side.
  for (int m = 0; m < 16; ++m) {
    double sum[8];
    for (int n = 0; n < 8; ++n) sum[n] = acc[m][n];
    for (int k = 0; k < 16; ++k) {
      const double am = a[m][k];
      for (int n = 0; n < 8; ++n) sum[n] += am * static_cast<double>(b[k][n]);
    }
    for (int n = 0; n < 8; ++n) acc[m][n] = static_cast<float>(sum[n]);
  }
  for (int lane = 0; lane < 32; ++lane) {
    auto* out = static_cast<float*>(block.state[32 * warp + lane].out);
    const int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; ++i) out[i] = acc[g + 8 * (i >= 2)][2 * t + (i & 1)];
  }
}

void complete_ldmatrix(Block& block, int warp, const Collective& c) {
  const int count = c.param & 7;
  const bool trans = (c.param & 8) != 0;
  auto row_element = [&](int matrix, int row, int col) {
    const auto* in = static_cast<const RowIn*>(block.state[32 * warp + 8 * matrix + row].in);
    std::uint16_t v;
    std::memcpy(&v, in->bytes + 2 * col, 2);
    return static_cast<std::uint32_t>(v);
  };
  for (int lane = 0; lane < 32; ++lane) {
    auto* out = static_cast<std::uint32_t*>(block.state[32 * warp + lane].out);
    const int r = lane / 4, c2 = 2 * (lane % 4);
    for (int j = 0; j < count; ++j) {
      out[j] = trans ? row_element(j, c2, r) | row_element(j, c2 + 1, r) << 16
                     : row_element(j, r, c2) | row_element(j, r, c2 + 1) << 16;
    }
  }
}

// The last lane to arrive (or a lane whose exit completes the set) computes every lane's result.
void complete(Block& block, int warp, const Collective& c) {
  const int base = 32 * warp;
  switch (c.op) {
    case Op::shfl: {
      const auto mode = static_cast<ShflMode>(c.param & 3);
      const int width = c.param >> 8;
      for (int lane = 0; lane < 32; ++lane) {
        if (!(c.arrived >> lane & 1u)) continue;
        ThreadState& s = block.state[base + lane];
        const int operand = static_cast<int>(static_cast<const ShflIn*>(s.in)[1].value);
        const int source = shfl_source(mode, lane, operand, width);
        if (!(c.arrived >> source & 1u))
          fault("__shfl_sync at " + describe_site(c.site) + ": lane " + std::to_string(lane) + " reads lane " +
                std::to_string(source) + ", which is not in the member mask or has exited (mask 0x" +
                [&] { std::ostringstream os; os << std::hex << c.mask; return os.str(); }() + ")");
        *static_cast<std::uint64_t*>(s.out) = static_cast<const ShflIn*>(block.state[base + source].in)[0].value;
      }
      break;
    }
    case Op::vote: {
      unsigned ballot = 0;
      for (int lane = 0; lane < 32; ++lane)
        if ((c.arrived >> lane & 1u) && *static_cast<const bool*>(block.state[base + lane].in)) ballot |= 1u << lane;
      const auto mode = static_cast<VoteMode>(c.param);
      const unsigned result = mode == VoteMode::ballot ? ballot
                              : mode == VoteMode::any  ? static_cast<unsigned>(ballot != 0)
                                                       : static_cast<unsigned>(ballot == c.arrived);
      for (int lane = 0; lane < 32; ++lane)
        if (c.arrived >> lane & 1u) *static_cast<unsigned*>(block.state[base + lane].out) = result;
      break;
    }
    case Op::syncwarp: break;
    case Op::mma: complete_mma(block, warp, c); break;
    case Op::ldmatrix: complete_ldmatrix(block, warp, c); break;
  }
  for (int lane = 0; lane < 32; ++lane)
    if ((c.arrived >> lane & 1u) && block.state[base + lane].wait == Wait::collective)
      block.state[base + lane].wait = Wait::runnable;
}

std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

bool aligned_op(Op op) { return op == Op::mma || op == Op::ldmatrix; }

// Joins (or opens) the collective; returns once every lane of it has arrived and the results are
// written.
void rendezvous(Op op, int param, unsigned mask, const void* in, void* out, const Site& site) {
  Block& block = this_block();
  const ThreadCtx& t = this_thread();
  ThreadState& me = this_state();
  Warp& warp = block.warps[t.warp];
  const unsigned bit = 1u << t.lane;
  if (!(mask & bit))
    fault(std::string(op_name(op)) + " at " + describe_site(site) + " with member mask " + hex(mask) +
          " that does not name the calling lane");
  if (aligned_op(op) && (warp.existing != 0xffffffffu || warp.exited != 0))
    fault(std::string(op_name(op)) + " at " + describe_site(site) + " needs all 32 lanes of the warp (.sync.aligned); " +
          describe_lanes(~warp.existing | warp.exited) + " do not exist or have returned");
  auto it = std::find_if(warp.open.begin(), warp.open.end(), [&](const Collective& c) { return (c.mask & mask) != 0; });
  if (it != warp.open.end()) {
    if (it->mask != mask || it->op != op || it->param != param) {
      fault("warp collectives do not match: " + describe_lanes(it->arrived) + " at " + op_name(it->op) + " " +
            describe_site(it->site) + " (mask " + hex(it->mask) + "), lane " + std::to_string(t.lane) + " at " +
            op_name(op) + " " + describe_site(site) + " (mask " + hex(mask) + ")");
    }
    it->arrived |= bit;
  } else {
    warp.open.push_back(Collective{op, param, mask, bit, site});
    it = warp.open.end() - 1;
  }
  me.in = in;
  me.out = out;
  me.site = site;
  me.wait = Wait::collective;
  const unsigned needed = mask & warp.existing & ~warp.exited;
  if ((it->arrived & needed) == needed) {
    const Collective done = *it;
    warp.open.erase(it);
    complete(block, t.warp, done);
  } else {
    yield_to_scheduler();
  }
}

}  // namespace

void warp_lane_exited(Block& block, int linear) {
  Warp& warp = block.warps[linear / 32];
  warp.exited |= 1u << (linear % 32);
  for (std::size_t i = 0; i < warp.open.size();) {
    const Collective c = warp.open[i];
    if (aligned_op(c.op))
      fault(std::string("returned while ") + describe_lanes(c.arrived) + " of its warp wait at " + op_name(c.op) +
            " " + describe_site(c.site) + ", which needs all 32 lanes");
    if (c.mask >> (linear % 32) & 1u) {
      const unsigned needed = c.mask & warp.existing & ~warp.exited;
      if ((c.arrived & needed) == needed) {
        warp.open.erase(warp.open.begin() + static_cast<std::ptrdiff_t>(i));
        complete(block, linear / 32, c);
        continue;
      }
    }
    ++i;
  }
}

std::uint64_t warp_shfl(ShflMode mode, unsigned mask, std::uint64_t value, int operand, int width, const Site& site) {
  if (width < 1 || width > 32 || (width & (width - 1)))
    fault("__shfl*_sync at " + describe_site(site) + " with width " + std::to_string(width) +
          " (must be a power of 2 up to 32)");
  const ShflIn in[2] = {{value}, {static_cast<std::uint64_t>(operand)}};
  std::uint64_t out = 0;
  rendezvous(Op::shfl, static_cast<int>(mode) | width << 8, mask, in, &out, site);
  return out;
}

unsigned warp_vote(VoteMode mode, unsigned mask, bool predicate, const Site& site) {
  unsigned out = 0;
  rendezvous(Op::vote, static_cast<int>(mode), mask, &predicate, &out, site);
  return out;
}

void warp_sync(unsigned mask, const Site& site) {
  Block& block = this_block();
  unsigned char* token = &block.warp_tokens[this_thread().warp];
  tsan_release(token);
  rendezvous(Op::syncwarp, 0, mask, nullptr, nullptr, site);
  tsan_acquire(token);
}

void mma_m16n8k16(MmaInput input, float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2],
                  const float (&c)[4], const Site& site) {
  const MmaIn in{a, b, c};
  float out[4];
  rendezvous(Op::mma, static_cast<int>(input), 0xffffffffu, &in, out, site);
  std::memcpy(d, out, sizeof(out));
}

void ldmatrix(int count, bool trans, const void* row, std::uint32_t* out, const Site& site) {
  const ThreadCtx& t = this_thread();
  RowIn in{};
  if (t.lane < 8 * count) {  // lanes past the last matrix supply no address
    const char* what = trans ? "ldmatrix .trans" : "ldmatrix";
    if (reinterpret_cast<std::uintptr_t>(row) % 16 != 0)
      fault(std::string(what) + " .x" + std::to_string(count) + " at " + describe_site(site) + ": row address " +
            hex(static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(row) & 0xffffffffu)) +
            " is not 16-byte aligned");
    const SharedAllocation* array = shared_find(this_block(), row, 16);
    if (!array)
      fault(std::string(what) + " at " + describe_site(site) + ": the 16-byte row at " +
            hex(static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(row) & 0xffffffffu)) +
            " is not inside one shared array of this block");
    shared_access_check(row, 16, array->name, &site);
    tsan_read(row, 16);
    std::memcpy(in.bytes, row, 16);
  }
  std::uint32_t result[4] = {0, 0, 0, 0};
  rendezvous(Op::ldmatrix, count | (trans ? 8 : 0), 0xffffffffu, &in, result, site);
  std::memcpy(out, result, sizeof(std::uint32_t) * static_cast<std::size_t>(count));
}

// --- deadlock report -----------------------------------------------------------------------------
std::string stall_report(const Block& block) {
  std::ostringstream os;
  std::vector<int> done, at_barrier;
  Site barrier_site;
  for (int i = 0; i < block.threads; ++i) {
    if (block.state[i].wait == Wait::done) done.push_back(i);
    if (block.state[i].wait == Wait::barrier) at_barrier.push_back(i), barrier_site = block.state[i].site;
  }
  const char* sep = "";
  if (!at_barrier.empty()) {
    os << describe_threads(at_barrier) << " wait at __syncthreads " << describe_site(barrier_site);
    sep = "; ";
  }
  for (std::size_t w = 0; w < block.warps.size(); ++w) {
    for (const Collective& c : block.warps[w].open) {
      const unsigned missing = c.mask & block.warps[w].existing & ~block.warps[w].exited & ~c.arrived;
      os << sep << "warp " << w << ": " << describe_lanes(c.arrived) << " wait at " << op_name(c.op) << " "
         << describe_site(c.site) << " (mask " << hex(c.mask) << ") for " << describe_lanes(missing);
      sep = "; ";
    }
  }
  if (!done.empty()) os << sep << describe_threads(done) << " have returned";
  return os.str();
}

}  // namespace slm::emu
