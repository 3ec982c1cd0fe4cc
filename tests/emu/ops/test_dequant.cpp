// test_dequant.cpp — the CUDA dequantization (kernels/cuda/dequant.h) of Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0 and Q2_K .. Q6_K under the emulation harness: fp32 bit for bit against
// checkpoints/gguf_quants.h's dequantize (what the model loader uses), bf16 as that value rounded to nearest
// even, on one block, a few blocks and many (also with threads looping by grid-stride), from a
// misaligned source, with fp16 scales that are zero, negative zero, subnormal, the largest finite
// and infinite, and guard elements after every output.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device.
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "checkpoints/gguf_quants.h"
#include "kernels/cuda/dequant.h"
#include "tests/emu/ops/device_buffer.h"
#include "train/core/error.h"

namespace {

using slm::ops_test::DeviceArray;

using slm::cuda::QuantType;
using u8 = std::uint8_t;

// The GGML type of a QuantType (their on-disk numbers are the same).
slm::GgmlType ggml_type(QuantType type) {
  switch (type) {
    case QuantType::q4_0: return slm::GgmlType::Q4_0;
    case QuantType::q4_1: return slm::GgmlType::Q4_1;
    case QuantType::q5_0: return slm::GgmlType::Q5_0;
    case QuantType::q5_1: return slm::GgmlType::Q5_1;
    case QuantType::q8_0: return slm::GgmlType::Q8_0;
    case QuantType::q2_k: return slm::GgmlType::Q2_K;
    case QuantType::q3_k: return slm::GgmlType::Q3_K;
    case QuantType::q4_k: return slm::GgmlType::Q4_K;
    case QuantType::q5_k: return slm::GgmlType::Q5_K;
    case QuantType::q6_k: return slm::GgmlType::Q6_K;
  }
  return slm::GgmlType::F32;
}

// The reference: the loader's own dequantizer (bit-exact with PyPI gguf, test_gguf).
std::vector<float> reference(QuantType type, const u8* blocks, std::int64_t n) {
  std::vector<float> y(static_cast<std::size_t>(n));
  slm::dequantize(ggml_type(type), blocks, y.data(), n);
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
    const DeviceArray<u8> shifted(data, 0xa5, misalign);
    const slm::cuda::DequantParams p{type, shifted.get(), n, grid};
    const __nv_bfloat16 seven = slm::ops_test::to_bf16(7.0f);
    DeviceArray<float> dev_got(static_cast<std::size_t>(n), 7.0f);
    DeviceArray<__nv_bfloat16> dev_got16(static_cast<std::size_t>(n), seven);
    slm::cuda::dequantize_fp32(p, dev_got.get(), nullptr);
    slm::cuda::dequantize_bf16(p, dev_got16.get(), nullptr);
    ASSERT_TRUE(dev_got.guards_intact() && dev_got16.guards_intact())
        << "type " << static_cast<int>(type) << " n " << n << " misalign " << misalign;
    const std::vector<float> got = dev_got.download();
    const std::vector<__nv_bfloat16> got16 = dev_got16.download();
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(same(got[i], want[i])) << "type " << static_cast<int>(type) << " n " << n << " misalign "
                                         << misalign << " element " << i << ": " << got[i] << " vs " << want[i];
      const float rounded = slm::bf16_to_fp32(slm::fp32_to_bf16(want[i]));
      ASSERT_TRUE(same(slm::ops_test::to_float(got16[i]), rounded))
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
  const DeviceArray<u8> data(210, 0);
  DeviceArray<float> out(288, 0.0f);
  EXPECT_THROW(slm::cuda::dequantize_fp32({QuantType::q8_0, data.get(), 40}, out.get(), nullptr), slm::Error);
  EXPECT_THROW(slm::cuda::dequantize_fp32({QuantType::q6_k, data.get(), 288}, out.get(), nullptr), slm::Error);
  slm::cuda::dequantize_fp32({QuantType::q8_0, data.get(), 0}, out.get(), nullptr);  // nothing to do
}

}  // namespace
