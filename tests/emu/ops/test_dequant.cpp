// test_dequant.cpp — the CUDA dequantization (kernels/cuda/dequant.h) of Q4_0, Q4_1 and Q8_0
// under the emulation harness: fp32 bit for bit against the operations of
// checkpoints/gguf_quants.cpp (copied below), bf16 as that value rounded to nearest even, on one
// block, a few blocks and many (also with threads looping by grid-stride), from a misaligned
// source, with fp16 scales that are zero, negative zero, subnormal, the largest finite and infinite.
// The reference is a copy because test_cuda_ops links the kernels (slm_kernels_cpu, slm_cuda_emu)
// and not slm_checkpoints, where slm::dequantize lives.
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cuda/dequant.h"
#include "tests/emu/emu_test_util.h"
#include "train/core/error.h"

namespace {

using slm::cuda::QuantType;
using u8 = std::uint8_t;

float half_at(const u8* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return slm::emu::half_bits_to_float(h);  // mirrors checkpoints/dtype.h's fp16_to_fp32
}

// checkpoints/gguf_quants.cpp's dequant_q4_0, dequant_q4_1 and dequant_q8_0 (built, like that
// file, without FMA contraction: this test is compiled for baseline x86-64, which has no FMA).
void dequant_q4_0(const u8* b, float* y) {
  const float d = half_at(b);
  const u8* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0xF) - 8);
    y[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}
void dequant_q4_1(const u8* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const u8* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(qs[j] & 0xF) + m;
    y[j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
  }
}
void dequant_q8_0(const u8* b, float* y) {
  const float d = half_at(b);
  const auto* x = reinterpret_cast<const std::int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(x[j]) * d;
}

std::vector<float> reference(QuantType type, const u8* blocks, std::int64_t n) {
  std::vector<float> y(static_cast<std::size_t>(n));
  const std::int64_t bytes = slm::cuda::quant_block_bytes(type);
  for (std::int64_t b = 0; b < n / 32; ++b) {
    const u8* block = blocks + b * bytes;
    float* out = y.data() + b * 32;
    type == QuantType::q4_0 ? dequant_q4_0(block, out) : type == QuantType::q4_1 ? dequant_q4_1(block, out)
                                                                                 : dequant_q8_0(block, out);
  }
  return y;
}

// Random blocks: random quants, scales random finite fp16 of moderate size, and special scales
// on the first blocks (zero, -0, subnormals, the largest finite, infinity).
std::vector<u8> random_blocks(QuantType type, std::int64_t blocks, unsigned seed) {
  const std::int64_t bytes = slm::cuda::quant_block_bytes(type);
  std::vector<u8> data(static_cast<std::size_t>(blocks * bytes));
  std::mt19937 rng(seed);
  for (u8& v : data) v = static_cast<u8>(rng());
  const std::uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x83ff, 0x7bff, 0x7c00, 0x2e66};
  const int scales = type == QuantType::q4_1 ? 2 : 1;
  for (std::int64_t b = 0; b < blocks; ++b)
    for (int s = 0; s < scales; ++s) {
      std::uint16_t h;
      if (b * scales + s < static_cast<std::int64_t>(std::size(special))) {
        h = special[b * scales + s];
      } else {  // exponent 5..24: magnitudes 2^-10 .. 2^9
        h = static_cast<std::uint16_t>((rng() & 0x8000u) | ((5 + rng() % 20) << 10) | (rng() & 0x3ffu));
      }
      std::memcpy(&data[static_cast<std::size_t>(b * bytes + s * 2)], &h, 2);
    }
  return data;
}

bool same(float got, float want) {
  return std::isnan(want) ? std::isnan(got) : std::memcmp(&got, &want, 4) == 0;
}

// Fp32 bit for bit against the reference and bf16 as the reference rounded, for `blocks` random
// blocks read from an aligned and from an odd address; grid > 0 limits the launch to that many
// blocks of 256 threads, so that threads take further pairs by grid-stride.
void check(QuantType type, std::int64_t blocks, int grid = 0) {
  const std::int64_t n = blocks * 32;
  const std::vector<u8> data = random_blocks(type, blocks, static_cast<unsigned>(blocks) + 11);
  const std::vector<float> want = reference(type, data.data(), n);
  for (const std::size_t misalign : {std::size_t{0}, std::size_t{1}}) {
    std::vector<u8> shifted(data.size() + 1);
    std::memcpy(shifted.data() + misalign, data.data(), data.size());
    const slm::cuda::DequantParams p{type, shifted.data() + misalign, n, grid};
    std::vector<float> got(static_cast<std::size_t>(n), 7.0f);
    std::vector<__nv_bfloat16> got16(static_cast<std::size_t>(n), __nv_bfloat16(7.0f));
    slm::cuda::dequantize_fp32(p, got.data(), nullptr);
    slm::cuda::dequantize_bf16(p, got16.data(), nullptr);
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(same(got[i], want[i])) << "type " << static_cast<int>(type) << " n " << n << " misalign "
                                         << misalign << " element " << i << ": " << got[i] << " vs " << want[i];
      const float rounded = slm::emu::bf16_bits_to_float(slm::emu::float_to_bf16_bits(want[i]));
      ASSERT_TRUE(same(static_cast<float>(got16[i]), rounded))
          << "bf16, type " << static_cast<int>(type) << " n " << n << " element " << i;
    }
  }
}

TEST(CudaOpsDequant, Fp32AndBf16MatchGgufQuantsBitForBit) {
  for (const QuantType type : {QuantType::q4_0, QuantType::q4_1, QuantType::q8_0})
    for (const std::int64_t blocks : {1, 3, 37, 1000}) check(type, blocks);
}

TEST(CudaOpsDequant, ThreadsTakeSeveralPairsByGridStride) {
  for (const QuantType type : {QuantType::q4_0, QuantType::q4_1, QuantType::q8_0}) check(type, 1000, 3);
}

TEST(CudaOpsDequant, RejectsPartialBlocks) {
  std::vector<u8> data(34);
  std::vector<float> out(40);
  EXPECT_THROW(slm::cuda::dequantize_fp32({QuantType::q8_0, data.data(), 40}, out.data(), nullptr), slm::Error);
  slm::cuda::dequantize_fp32({QuantType::q8_0, data.data(), 0}, out.data(), nullptr);  // nothing to do
}

}  // namespace
