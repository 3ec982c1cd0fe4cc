// test_dtype.cpp — half and bfloat16 conversions: every one of the 65536 bit patterns widens
// exactly and narrows back to itself; narrowing rounds to nearest even at the midpoints.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "checkpoints/dtype.h"

namespace slm {
namespace {

// Reference fp16 decode by arithmetic, independent of the bit-twiddling implementation.
double fp16_reference(std::uint16_t h) {
  int sign = (h >> 15) ? -1 : 1;
  int exponent = (h >> 10) & 0x1f;
  int mantissa = h & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

TEST(DType, EveryHalfWidensExactlyAndNarrowsBack) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    float f = fp16_to_fp32(static_cast<std::uint16_t>(h));
    double expected = fp16_reference(static_cast<std::uint16_t>(h));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), expected) << h;
    ASSERT_EQ(fp32_to_fp16(f), h) << h;
  }
}

TEST(DType, HalfNarrowingRoundsToNearestEven) {
  // Midway between 1 and the next half (1 + 2^-10): ties to even (1).
  EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);        // half the smallest subnormal: to even
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);        // 1.5 subnormal units: to even (2)
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
}

TEST(DType, BFloat16) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    float f = bf16_to_fp32(static_cast<std::uint16_t>(b));
    ASSERT_EQ(std::bit_cast<std::uint32_t>(f), b << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(fp32_to_bf16(f), b);
    }
  }
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie: to even
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

TEST(DType, NamesAndSizes) {
  EXPECT_EQ(dtype_from_name("BF16"), DType::BF16);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_name(DType::Bool), "BOOL");
  EXPECT_FALSE(dtype_from_name("F8_E4M3").has_value());
}

}  // namespace
}  // namespace slm
