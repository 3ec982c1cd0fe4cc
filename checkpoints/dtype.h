// dtype.h — the element types of model files and exact conversions between them and fp32.
//
// Holds: DType (safetensors' names; GGUF's plain float types map onto it), byte sizes, and
// bit-exact fp16/bf16 <-> fp32 conversions (round-to-nearest-even when narrowing, as numpy and
// torch do). Does not hold: quantized GGUF types (checkpoints/gguf_quants.*).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace slm {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

std::string_view dtype_name(DType type);                   // "F32", "BF16", ... (safetensors spelling)
std::optional<DType> dtype_from_name(std::string_view name);  // inverse of dtype_name
std::size_t dtype_size(DType type);                          // bytes per element

float fp16_to_fp32(std::uint16_t h);
float bf16_to_fp32(std::uint16_t b);
std::uint16_t fp32_to_fp16(float f);  // round to nearest even; overflow to inf; NaN stays NaN
std::uint16_t fp32_to_bf16(float f);  // round to nearest even; NaN stays NaN

// Converts n elements of a float type (F32, F16, BF16) to fp32; throws for other types.
void convert_to_fp32(DType type, const void* src, float* dst, std::size_t n);

}  // namespace slm
