// dtype.cpp — element type names and sizes, and exact half/bfloat16 conversions by bit
// manipulation (no hardware conversion instructions, so results never depend on the CPU).
#include "checkpoints/dtype.h"

#include <array>
#include <bit>
#include <cstring>

#include "train/core/error.h"

namespace slm {
namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  std::size_t size;
};
constexpr std::array<DTypeInfo, 10> k_dtypes = {{{DType::F32, "F32", 4},
                                                 {DType::F16, "F16", 2},
                                                 {DType::BF16, "BF16", 2},
                                                 {DType::F64, "F64", 8},
                                                 {DType::I64, "I64", 8},
                                                 {DType::I32, "I32", 4},
                                                 {DType::I16, "I16", 2},
                                                 {DType::I8, "I8", 1},
                                                 {DType::U8, "U8", 1},
                                                 {DType::Bool, "BOOL", 1}}};
const DTypeInfo& info(DType type) {
  for (const auto& i : k_dtypes)
    if (i.type == type) return i;
  SLM_FAIL("internal: unknown dtype");
}
}  // namespace

std::string_view dtype_name(DType type) { return info(type).name; }
std::size_t dtype_size(DType type) { return info(type).size; }
std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : k_dtypes)
    if (i.name == name) return i.type;
  return std::nullopt;
}

float fp16_to_fp32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf or NaN (payload kept)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal: normalize the mantissa.
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3ffu;
    bits = sign | (static_cast<std::uint32_t>(113 - shift) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

float bf16_to_fp32(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

std::uint16_t fp32_to_bf16(float f) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

std::uint16_t fp32_to_fp16(float f) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;  // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {
    // Result is subnormal or zero: value = abs_float * 2^24 rounded to an integer (nearest even).
    if (abs < 0x33000000u) return sign;  // below half the smallest subnormal
    const std::uint32_t exponent = abs >> 23;
    const std::uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - exponent;  // 14 + (113 - exponent) ... aligns to 2^-24 units
    std::uint32_t value = mantissa >> shift;
    const std::uint32_t remainder = mantissa & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    if (remainder > half || (remainder == half && (value & 1u))) ++value;
    return sign | static_cast<std::uint16_t>(value);
  }
  // Normal: rebias the exponent and round the mantissa to 10 bits (carry may bump the exponent).
  std::uint32_t rebased = abs - (112u << 23);
  rebased += 0xfffu + ((rebased >> 13) & 1u);
  return sign | static_cast<std::uint16_t>(rebased >> 13);
}

void convert_to_fp32(DType type, const void* src, float* dst, std::size_t n) {
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::F16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(s[i]);
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(s[i]);
      return;
    }
    default:
      SLM_FAIL("cannot convert ", dtype_name(type), " tensors to fp32; model weights must be F32, F16 or BF16");
  }
}

}  // namespace slm
