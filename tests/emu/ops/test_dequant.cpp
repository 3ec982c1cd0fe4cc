// test_dequant.cpp — the CUDA dequantization (kernels/cuda/dequant.h) of Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0 and Q2_K .. Q6_K under the emulation harness: fp32 bit for bit against
// checkpoints/gguf_quants.cpp's dequantizers (copied below), bf16 as that value rounded to nearest
// even, on one block, a few blocks and many (also with threads looping by grid-stride), from a
// misaligned source, with fp16 scales that are zero, negative zero, subnormal, the largest finite
// and infinite.
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

// checkpoints/gguf_quants.cpp's dequantizers, verbatim (built, like that file, without FMA
// contraction: this test is compiled for baseline x86-64, which has no FMA).
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

// The 32 5-bit values of a Q5_0/Q5_1 block, as ints in output order.
void unpack_q5(const u8* qh_bytes, const u8* qs, int* q) {
  std::uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
    q[j + 16] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
  }
}

void dequant_q5_0(const u8* b, float* y) {
  const float d = half_at(b);
  int q[32];
  unpack_q5(b + 2, b + 6, q);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q[j] - 16);
}

void dequant_q5_1(const u8* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  int q[32];
  unpack_q5(b + 4, b + 8, q);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q[j]) + m;
}

void dequant_q8_0(const u8* b, float* y) {
  const float d = half_at(b);
  const auto* x = reinterpret_cast<const std::int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(x[j]) * d;
}

void dequant_q2_k(const u8* b, float* y) {
  const u8* scales = b;
  const u8* qs = b + 16;
  const float d = half_at(b + 80), dmin = half_at(b + 82);
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      for (int half = 0; half < 2; ++half) {  // two sub-blocks of 16 per 32 elements
        const int e0 = h * 128 + s * 32 + half * 16;
        const u8 sc = scales[e0 / 16];
        const float dl = d * static_cast<float>(sc & 0xF);
        const float ml = dmin * static_cast<float>(sc >> 4);
        for (int l = 0; l < 16; ++l) {
          const int q = (qs[h * 32 + half * 16 + l] >> (2 * s)) & 3;
          y[e0 + l] = dl * static_cast<float>(q) - ml;
        }
      }
    }
  }
}

// The 16 signed 6-bit scales of a Q3_K block (already minus 32).
void q3_k_scales(const u8* s, int* out) {
  for (int k = 0; k < 16; ++k) {
    const int low = k < 8 ? (s[k] & 0xF) : (s[k - 8] >> 4);
    const int high = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
    out[k] = (low | (high << 4)) - 32;
  }
}

void dequant_q3_k(const u8* b, float* y) {
  const u8* hmask = b;
  const u8* qs = b + 32;
  const float d = half_at(b + 108);
  int sc[16];
  q3_k_scales(b + 96, sc);
  for (int g = 0; g < 16; ++g) {
    const float dl = d * static_cast<float>(sc[g]);
    const int e0 = g * 16, h = e0 / 128, s = (e0 % 128) / 32, bit = e0 / 32;
    for (int l = e0 % 32; l < e0 % 32 + 16; ++l) {
      const int low = (qs[h * 32 + l] >> (2 * s)) & 3;
      const int high_clear = ((hmask[l] >> bit) & 1) ^ 1;  // subtract 4 when the bit is 0
      y[bit * 32 + l] = dl * static_cast<float>(low - (high_clear << 2));
    }
  }
}

// The 8 6-bit scales and mins of a Q4_K/Q5_K block from its 12 packed bytes.
void k_scale_min(const u8* s, int* sc, int* mn) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = (s[8 + j] & 0xF) | ((s[j] >> 2) & 0x30);
    mn[j + 4] = (s[8 + j] >> 4) | ((s[j + 4] >> 2) & 0x30);
  }
}

void dequant_q4_k(const u8* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  int sc[8], mn[8];
  k_scale_min(b + 4, sc, mn);
  const u8* qs = b + 16;
  for (int j = 0; j < 8; ++j) {  // sub-block j: nibble (j % 2) of qs[(j / 2) * 32 + l]
    const float dj = d * static_cast<float>(sc[j]);
    const float mj = dmin * static_cast<float>(mn[j]);
    const u8* q = qs + (j / 2) * 32;
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l)
      y[j * 32 + l] = dj * static_cast<float>((q[l] >> shift) & 0xF) - mj;
  }
}

void dequant_q5_k(const u8* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  int sc[8], mn[8];
  k_scale_min(b + 4, sc, mn);
  const u8* qh = b + 16;
  const u8* qs = b + 48;
  for (int j = 0; j < 8; ++j) {  // sub-block j: as Q4_K, plus bit j of qh[l] as bit 4
    const float dj = d * static_cast<float>(sc[j]);
    const float mj = dmin * static_cast<float>(mn[j]);
    const u8* q = qs + (j / 2) * 32;
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l) {
      const int v = ((q[l] >> shift) & 0xF) | (((qh[l] >> j) & 1) << 4);
      y[j * 32 + l] = dj * static_cast<float>(v) - mj;
    }
  }
}

void dequant_q6_k(const u8* b, float* y) {
  const u8* ql = b;
  const u8* qh = b + 128;
  const auto* scales = reinterpret_cast<const std::int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int g = 0; g < 16; ++g) {
    const float dg = d * static_cast<float>(scales[g]);
    const int e0 = g * 16, h = e0 / 128;
    const int t = (e0 % 128) / 32;  // 2-bit field of qh
    const int s = (e0 % 128) / 64;  // nibble of ql
    for (int i = 0; i < 16; ++i) {
      const int e = e0 + i, l = e % 32, m = e % 64;
      const int low = (ql[h * 64 + m] >> (4 * s)) & 0xF;
      const int high = (qh[h * 32 + l] >> (2 * t)) & 3;
      y[e] = dg * static_cast<float>((low | (high << 4)) - 32);
    }
  }
}

using BlockFn = void (*)(const u8* block, float* out);

BlockFn reference_block(QuantType type) {
  switch (type) {
    case QuantType::q4_0: return dequant_q4_0;
    case QuantType::q4_1: return dequant_q4_1;
    case QuantType::q5_0: return dequant_q5_0;
    case QuantType::q5_1: return dequant_q5_1;
    case QuantType::q8_0: return dequant_q8_0;
    case QuantType::q2_k: return dequant_q2_k;
    case QuantType::q3_k: return dequant_q3_k;
    case QuantType::q4_k: return dequant_q4_k;
    case QuantType::q5_k: return dequant_q5_k;
    case QuantType::q6_k: return dequant_q6_k;
  }
  return nullptr;
}

std::vector<float> reference(QuantType type, const u8* blocks, std::int64_t n) {
  std::vector<float> y(static_cast<std::size_t>(n));
  const std::int64_t bytes = slm::cuda::quant_block_bytes(type), per = slm::cuda::quant_block_elements(type);
  for (std::int64_t b = 0; b < n / per; ++b) reference_block(type)(blocks + b * bytes, y.data() + b * per);
  return y;
}

// Byte offsets of the fp16 scales (d, and m or dmin) in a block.
std::vector<int> scale_offsets(QuantType type) {
  switch (type) {
    case QuantType::q4_0: case QuantType::q5_0: case QuantType::q8_0: return {0};
    case QuantType::q4_1: case QuantType::q5_1: case QuantType::q4_k: case QuantType::q5_k: return {0, 2};
    case QuantType::q2_k: return {80, 82};
    case QuantType::q3_k: return {108};
    case QuantType::q6_k: return {208};
  }
  return {};
}

const QuantType k_types[] = {QuantType::q4_0, QuantType::q4_1, QuantType::q5_0, QuantType::q5_1, QuantType::q8_0,
                             QuantType::q2_k, QuantType::q3_k, QuantType::q4_k, QuantType::q5_k, QuantType::q6_k};

// Random blocks: random quants and sub-block scales, fp16 scales random finite of moderate size,
// and special ones on the first blocks (zero, -0, subnormals, the largest finite, infinity).
std::vector<u8> random_blocks(QuantType type, std::int64_t blocks, unsigned seed) {
  const std::int64_t bytes = slm::cuda::quant_block_bytes(type);
  std::vector<u8> data(static_cast<std::size_t>(blocks * bytes));
  std::mt19937 rng(seed);
  for (u8& v : data) v = static_cast<u8>(rng());
  const std::uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x83ff, 0x7bff, 0x7c00, 0x2e66};
  const std::vector<int> offsets = scale_offsets(type);
  const auto scales = static_cast<std::int64_t>(offsets.size());
  for (std::int64_t b = 0; b < blocks; ++b)
    for (std::int64_t s = 0; s < scales; ++s) {
      std::uint16_t h;
      if (b * scales + s < static_cast<std::int64_t>(std::size(special))) {
        h = special[b * scales + s];
      } else {  // exponent 5..24: magnitudes 2^-10 .. 2^9
        h = static_cast<std::uint16_t>((rng() & 0x8000u) | ((5 + rng() % 20) << 10) | (rng() & 0x3ffu));
      }
      std::memcpy(&data[static_cast<std::size_t>(b * bytes + offsets[s])], &h, 2);
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
  const std::int64_t n = blocks * slm::cuda::quant_block_elements(type);
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
  for (const QuantType type : k_types)
    for (const std::int64_t blocks : {std::int64_t{1}, std::int64_t{3}, std::int64_t{37},
                                      32000 / slm::cuda::quant_block_elements(type)})
      check(type, blocks);
}

TEST(CudaOpsDequant, ThreadsTakeSeveralPairsByGridStride) {
  for (const QuantType type : k_types) check(type, 32000 / slm::cuda::quant_block_elements(type), 3);
}

TEST(CudaOpsDequant, RejectsPartialBlocks) {
  std::vector<u8> data(210);
  std::vector<float> out(288);
  EXPECT_THROW(slm::cuda::dequantize_fp32({QuantType::q8_0, data.data(), 40}, out.data(), nullptr), slm::Error);
  EXPECT_THROW(slm::cuda::dequantize_fp32({QuantType::q6_k, data.data(), 288}, out.data(), nullptr), slm::Error);
  slm::cuda::dequantize_fp32({QuantType::q8_0, data.data(), 0}, out.data(), nullptr);  // nothing to do
}

}  // namespace
