// test_elementwise.cpp — the CUDA cast to bf16, residual add and embedding lookup
// (kernels/cuda/elementwise.h) under the emulation harness: the cast bit for bit against a
// rounding written here from the definition (and against the host conversion), ties, denormals,
// overflow, infinities and NaNs included; the add and the embedding bit for bit against their CPU
// twins (kernels/cpu/layers.h); bad token ids reported at the first position whatever the grid.
// Odd sizes, the float4 and the scalar paths, grids small enough that threads loop, and guard
// elements after every output.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device.
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <gmock/gmock.h>  // HasSubstr
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "checkpoints/dtype.h"  // fp32_to_bf16: the host conversion
#include "kernels/cpu/layers.h"
#include "kernels/cuda/elementwise.h"
#include "tests/emu/ops/device_buffer.h"
#include "train/core/error.h"

namespace {

using slm::ops_test::DeviceArray;
using slm::ops_test::bits_of;
using slm::ops_test::to_bf16;
using slm::ops_test::to_float;

const std::int64_t k_sizes[] = {1, 5, 13, 1000, 1001, 4099};
// The launcher's grid, and at most 1 or 2 blocks so that threads take further elements.
const int k_grid_limits[] = {0, 1, 2};

// x rounded to bf16 by the definition: of the two bf16 values around x (x truncated, and one
// unit further from zero; past the largest finite value that is infinity, taken as 2^128 for the
// comparison), the nearer, and on a tie the one with an even last bit. Not for NaN.
std::uint16_t bf16_by_definition(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t low = bits & 0xffff0000u, high = low + 0x10000u;
  if (low == bits) return static_cast<std::uint16_t>(low >> 16);
  const auto value = [](std::uint32_t b) {
    if ((b & 0x7fffffffu) == 0x7f800000u) return std::copysign(std::ldexp(1.0, 128), std::bit_cast<float>(b));
    return static_cast<double>(std::bit_cast<float>(b));
  };
  const double to_low = std::fabs(static_cast<double>(x) - value(low)), to_high = std::fabs(value(high) - x);
  if (to_low < to_high) return static_cast<std::uint16_t>(low >> 16);
  if (to_high < to_low) return static_cast<std::uint16_t>(high >> 16);
  return static_cast<std::uint16_t>(((low >> 16) & 1u) == 0 ? low >> 16 : high >> 16);
}

bool bf16_is_nan(std::uint16_t b) { return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0; }

// Bit patterns that test the rounding: ties to even both ways, just off ties, denormals (and one
// that rounds up to the smallest normal), the largest floats (one rounds to infinity),
// infinities, quiet and signalling NaNs (some whose payload is only in the low half).
const std::uint32_t k_special[] = {
    0x00000000u, 0x80000000u, 0x3f800000u, 0x3f808000u, 0x3f818000u, 0xbf818000u, 0x3f808001u, 0x3f807fffu,
    0x00000001u, 0x80000001u, 0x00008000u, 0x00018000u, 0x00017fffu, 0x007fffffu, 0x807fffffu, 0x00800000u,
    0x7f7fffffu, 0xff7fffffu, 0x7f7f7fffu, 0x7f7f8000u, 0x7f7e8000u, 0x7f800000u, 0xff800000u, 0x7fc00000u,
    0x7f800001u, 0xff800001u, 0x7fffffffu, 0xffffffffu, 0x7fbfffffu, 0x7f808000u};

// n floats: the special patterns first, then random bit patterns and ordinary values in turn.
std::vector<float> cast_inputs(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 10.0f);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (i < std::size(k_special)) v[i] = std::bit_cast<float>(k_special[i]);
    else v[i] = i % 2 ? std::bit_cast<float>(static_cast<std::uint32_t>(rng())) : normal(rng);
  }
  return v;
}

TEST(CudaOpsElementwise, CastToBf16RoundsToNearestEven) {
  // The definition itself on the special patterns whose results are known by hand.
  EXPECT_EQ(bf16_by_definition(std::bit_cast<float>(0x3f808000u)), 0x3f80u);  // tie, even below
  EXPECT_EQ(bf16_by_definition(std::bit_cast<float>(0x3f818000u)), 0x3f82u);  // tie, odd below
  EXPECT_EQ(bf16_by_definition(std::bit_cast<float>(0x00018000u)), 0x0002u);  // denormal tie
  EXPECT_EQ(bf16_by_definition(std::bit_cast<float>(0x007fffffu)), 0x0080u);  // up to the smallest normal
  EXPECT_EQ(bf16_by_definition(std::bit_cast<float>(0x7f7fffffu)), 0x7f80u);  // overflow to infinity
  EXPECT_EQ(bf16_by_definition(std::bit_cast<float>(0x7f7f7fffu)), 0x7f7fu);
  std::int64_t nan_count = 0;
  for (const std::int64_t n : k_sizes)
    for (const int grid : k_grid_limits)
      for (const int x_offset : {0, 1})      // 1: x not 16-byte aligned, the scalar path
        for (const int out_offset : {0, 1})  // 1: out not 8-byte aligned, the scalar path
        {
          const auto count = static_cast<std::size_t>(n);
          const std::vector<float> x = cast_inputs(count, static_cast<unsigned>(n));
          const DeviceArray<float> xs(x, 0.0f, static_cast<std::size_t>(x_offset));
          const __nv_bfloat16 fill = slm::ops_test::to_bf16(-3.0f);
          // Guards after it, and (out_offset 1) one before it: the kernel must write neither.
          DeviceArray<__nv_bfloat16> out(count, fill, fill, static_cast<std::size_t>(out_offset));
          slm::cuda::cast_to_bf16(out.get(), xs.get(), n, nullptr, grid);
          ASSERT_TRUE(out.guards_intact()) << "wrote outside out, n " << n << " grid " << grid << " out offset "
                                           << out_offset;
          std::vector<std::uint16_t> o;
          for (const __nv_bfloat16 v : out.download()) o.push_back(bits_of(v));
          for (std::size_t i = 0; i < count; ++i) {
            const std::uint32_t in = std::bit_cast<std::uint32_t>(x[i]);
            if (std::isnan(x[i])) {
              ++nan_count;
              ASSERT_TRUE(bf16_is_nan(o[i])) << std::hex << "NaN 0x" << in << " gave 0x" << o[i];
              continue;
            }
            ASSERT_EQ(o[i], bf16_by_definition(x[i])) << std::hex << "input 0x" << in << ", n " << std::dec << n;
            ASSERT_EQ(o[i], slm::fp32_to_bf16(x[i])) << std::hex << "input 0x" << in;
          }
        }
  EXPECT_GT(nan_count, 0);
}

TEST(CudaOpsElementwise, CastToBf16OfNothingWritesNothing) {
  const __nv_bfloat16 fill = slm::ops_test::to_bf16(-3.0f);
  DeviceArray<__nv_bfloat16> out(0, fill);
  const DeviceArray<float> x(1, 1.0f);
  slm::cuda::cast_to_bf16(out.get(), x.get(), 0, nullptr);
  EXPECT_TRUE(out.guards_intact());
}

TEST(CudaOpsElementwise, AddInplaceHasTheCpuTwinsBits) {
  for (const std::int64_t n : k_sizes)
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1}) {
        const auto count = static_cast<std::size_t>(n);
        std::mt19937 rng(static_cast<unsigned>(n) + 7);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> x(count), y(count);
        for (std::size_t i = 0; i < count; ++i) {
          x[i] = normal(rng) * 1e3f;
          y[i] = normal(rng);
        }
        if (count > 4) {  // infinities and NaN pass through as on the CPU
          x[1] = std::numeric_limits<float>::infinity();
          y[2] = -std::numeric_limits<float>::infinity();
          y[3] = std::numeric_limits<float>::quiet_NaN();
        }
        std::vector<float> want = x;
        slm::cpu::add_inplace(want.data(), y.data(), n);
        constexpr float k_fill = 9.0f;
        DeviceArray<float> xs(x, k_fill, static_cast<std::size_t>(offset));
        const DeviceArray<float> ys(y, k_fill, static_cast<std::size_t>(offset));
        slm::cuda::add_inplace(xs.get(), ys.get(), n, nullptr, grid);
        EXPECT_EQ(std::memcmp(xs.download().data(), want.data(), count * sizeof(float)), 0) << "n " << n << " grid " << grid;
        EXPECT_TRUE(xs.guards_intact() && ys.guards_intact()) << "n " << n;
        // y == x doubles x, as on the CPU.
        std::vector<float> twice = want;
        slm::cpu::add_inplace(twice.data(), twice.data(), n);
        slm::cuda::add_inplace(xs.get(), xs.get(), n, nullptr, grid);
        EXPECT_EQ(std::memcmp(xs.download().data(), twice.data(), count * sizeof(float)), 0) << "x + x, n " << n;
      }
}

struct EmbeddingCase {
  std::int64_t t, d, v;
};
// D % 4 == 0 takes the float4 path (when aligned), the others the scalar one.
const EmbeddingCase k_embedding_cases[] = {{1, 1, 1},  {5, 7, 11},    {13, 4, 9},
                                           {13, 5, 3}, {1001, 3, 50}, {257, 64, 1000}};

// The table (on the host, and `offset` elements past the alignment on the device when run; fp32,
// or bf16 with values that bf16 holds exactly) and the ids (host; the test may change them
// before run) of a case, and the device output.
struct Embedding {
  Embedding(const EmbeddingCase& c, int offset, unsigned seed, bool bf16 = false)
      : c(c), table(static_cast<std::size_t>(c.v * c.d)), ids(static_cast<std::size_t>(c.t)),
        out(static_cast<std::size_t>(c.t * c.d), k_fill, k_fill, static_cast<std::size_t>(offset)), offset(offset),
        bf16(bf16) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& e : table) e = bf16 ? to_float(to_bf16(normal(rng))) : normal(rng);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(c.v));
  }
  // Runs the kernel; *invalid_at starts as garbage so that the test sees it overwritten.
  std::int64_t run(int grid) {
    std::vector<__nv_bfloat16> halves;
    for (float e : table) halves.push_back(to_bf16(e));
    const DeviceArray<float> dev_table(bf16 ? std::vector<float>{0.0f} : table, 0.0f, static_cast<std::size_t>(offset));
    const DeviceArray<__nv_bfloat16> dev_halves(bf16 ? halves : std::vector<__nv_bfloat16>{to_bf16(0.0f)},
                                                to_bf16(0.0f), static_cast<std::size_t>(offset));
    const DeviceArray<std::int32_t> dev_ids(ids, 0);
    DeviceArray<std::int64_t> invalid_at(1, 12345);
    slm::cuda::EmbeddingParams p;
    p.out = out.get();
    if (bf16) {
      p.table_bf16 = dev_halves.get();
    } else {
      p.table = dev_table.get();
    }
    p.ids = dev_ids.get();
    p.invalid_at = invalid_at.get();
    p.t = c.t;
    p.d = c.d;
    p.v = c.v;
    p.max_blocks = grid;
    slm::cuda::embedding_forward(p, nullptr);
    return invalid_at.at(0);
  }
  std::vector<float> result() const { return out.download(); }
  bool guards_intact() const { return out.guards_intact(); }

  static constexpr float k_fill = -4.0f;
  EmbeddingCase c;
  std::vector<float> table;
  std::vector<std::int32_t> ids;
  DeviceArray<float> out;
  int offset;
  bool bf16;
};

// fp32 tables, and bf16 tables (their values converted exactly: the CPU twin on the same values).
TEST(CudaOpsElementwise, EmbeddingHasTheCpuTwinsBits) {
  for (const bool bf16 : {false, true})
  for (const EmbeddingCase& c : k_embedding_cases)
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1}) {
        Embedding e(c, offset, static_cast<unsigned>(c.t * 31 + c.d), bf16);
        std::vector<float> want(static_cast<std::size_t>(c.t * c.d));
        slm::cpu::embedding_forward(want.data(), e.table.data(), e.ids.data(), c.t, c.d, c.v);
        EXPECT_EQ(e.run(grid), -1) << "T " << c.t << " D " << c.d;
        EXPECT_EQ(std::memcmp(e.result().data(), want.data(), want.size() * sizeof(float)), 0)
            << "T " << c.t << " D " << c.d << " V " << c.v << " grid " << grid << " offset " << offset
            << (bf16 ? " bf16" : " fp32");
        EXPECT_TRUE(e.guards_intact()) << "T " << c.t << " D " << c.d;
      }
}

// Bad ids (negative, V, far out) anywhere: the first position is reported whatever the grid and
// schedule, their rows are zeros, the other rows are looked up.
TEST(CudaOpsElementwise, EmbeddingReportsTheFirstBadId) {
  for (const bool bf16 : {false, true})
  for (const EmbeddingCase& c : k_embedding_cases)
    for (const int grid : k_grid_limits)
      for (const int offset : {0, 1}) {
        Embedding e(c, offset, 99, bf16);
        std::vector<std::int64_t> bad;
        if (c.t == 1) {
          bad = {0};
        } else {
          bad = {c.t - 1, c.t / 2};  // several, not in order
          if (c.t > 3) bad.push_back(3);
        }
        const std::int32_t bad_ids[] = {-1, static_cast<std::int32_t>(c.v), std::numeric_limits<std::int32_t>::min(),
                                        std::numeric_limits<std::int32_t>::max()};
        for (std::size_t k = 0; k < bad.size(); ++k) e.ids[static_cast<std::size_t>(bad[k])] = bad_ids[k % 4];
        const std::int64_t first = *std::min_element(bad.begin(), bad.end());
        ASSERT_EQ(e.run(grid), first) << "T " << c.t << " D " << c.d << " grid " << grid;
        EXPECT_TRUE(e.guards_intact());
        const std::vector<float> result = e.result();
        for (std::int64_t row = 0; row < c.t; ++row) {
          const std::int32_t id = e.ids[static_cast<std::size_t>(row)];
          const bool is_bad = id < 0 || id >= c.v;
          for (std::int64_t j = 0; j < c.d; ++j) {
            const float want = is_bad ? 0.0f : e.table[id * c.d + j];
            ASSERT_EQ(std::bit_cast<std::uint32_t>(result[row * c.d + j]), std::bit_cast<std::uint32_t>(want))
                << "row " << row << " column " << j << (is_bad ? " (bad id)" : "");
          }
        }
        // The CPU twin names the same position.
        std::vector<float> scratch(static_cast<std::size_t>(c.t * c.d));
        try {
          slm::cpu::embedding_forward(scratch.data(), e.table.data(), e.ids.data(), c.t, c.d, c.v);
          ADD_FAILURE() << "the CPU twin accepted a bad id";
        } catch (const slm::Error& error) {
          EXPECT_THAT(error.what(), ::testing::HasSubstr("at position " + std::to_string(first) + " "));
        }
      }
}

TEST(CudaOpsElementwise, EmbeddingOfNoTokensReportsNoBadId) {
  const DeviceArray<float> table({1, 2, 3, 4}, 0.0f);
  DeviceArray<std::int64_t> invalid_at(1, 7);
  slm::cuda::EmbeddingParams p;
  p.table = table.get();
  p.invalid_at = invalid_at.get();
  p.d = 4;
  p.v = 1;
  slm::cuda::embedding_forward(p, nullptr);
  EXPECT_EQ(invalid_at.at(0), -1);
}

}  // namespace
