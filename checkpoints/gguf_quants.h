// gguf_quants.h — GGML tensor types: names, block geometry, and dequantization to fp32.
//
// Holds: the block size (elements) and block bytes of every GgmlType, names, dequantizers
// for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K whose results
// equal PyPI gguf's gguf.quants.dequantize bit for bit (same fp16 -> fp32 widening of the
// scales, same float32 operations in the same order, no fused multiply-add), and quantizers to
// F32, F16, BF16 and Q8_0 whose bytes equal gguf.quants.quantize's.
// Does not hold: quantization to the other types, Q8_1 / Q8_K / IQ* dequantization, file
// parsing or writing (checkpoints/gguf.h, checkpoints/gguf_write.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "checkpoints/gguf.h"

namespace slm {

std::string_view ggml_type_name(GgmlType type);   // "Q4_K", "F32", ...
std::int64_t ggml_block_elements(GgmlType type);  // 32 or 256 (1 for F32/F16/BF16)
std::size_t ggml_block_bytes(GgmlType type);      // bytes of one block

// The GgmlType with on-disk number `number`, or nullopt when it is not one of ours.
std::optional<GgmlType> ggml_type_from_number(std::uint32_t number);
// A name for any on-disk type number ggml knows ("IQ2_XXS", "I32", ...) or "unknown", for errors.
std::string_view ggml_type_number_name(std::uint32_t number);
// True for the types dequantize() handles (all but Q8_1 and Q8_K).
bool ggml_type_dequantizable(GgmlType type);

// Dequantizes n elements of `type` at src into dst (n floats). n must be a multiple of the
// type's block size; throws slm::Error otherwise or for a type it cannot dequantize.
void dequantize(GgmlType type, const void* src, float* dst, std::int64_t n);
// dst holds t.num_elements() floats, in the file's order (ne[0] fastest).
void dequantize_tensor(const GgufTensor& t, float* dst);

// True for the types quantize() writes: F32, F16, BF16, Q8_0.
bool ggml_type_quantizable(GgmlType type);
// Quantizes n floats at src into dst (n / block * block_bytes bytes), bit for bit as PyPI gguf's
// gguf.quants.quantize: F16 and BF16 round to nearest even (BF16 quiets NaNs as ggml does), Q8_0
// takes d = max|x| / 127 per block of 32, q = round-half-away(x * (1 / d)), d stored as fp16.
// n must be a multiple of the block size; throws slm::Error otherwise or for another type.
void quantize(GgmlType type, const float* src, void* dst, std::int64_t n);

}  // namespace slm
