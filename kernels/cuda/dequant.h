// dequant.h — dequantization of GGML's quantized blocks on the GPU, to fp32 or to bf16 (CUDA twin
// of slm::dequantize in checkpoints/gguf_quants.h: the same blocks as they lie in a GGUF file and
// the same float32 operations, so the fp32 results are equal bit for bit; bf16 is that fp32 value
// rounded to nearest even). Types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q2_K .. Q6_K.
// Does not hold: Q8_1, Q8_K and IQ* (not dequantized on the CPU either), quantization, file
// parsing (checkpoints/gguf.h), fusion into a GEMM's operand loads.
//
// Blocks of 32 ("h" = fp16, little endian; element j < 16 from the low nibble of qs[j], j >= 16
// from the high nibble of qs[j - 16]; for Q5, bit j of the u32 qh is element j's fifth bit):
//   Q4_0  [h d][16 qs]             y = d * (q - 8)
//   Q4_1  [h d][h m][16 qs]        y = d * q + m        (two roundings, no FMA)
//   Q5_0  [h d][u32 qh][16 qs]     y = d * (q - 16)
//   Q5_1  [h d][h m][u32 qh][16 qs] y = d * q + m
//   Q8_0  [h d][32 int8 q]         y = q * d
// Super-blocks of 256 (layouts in checkpoints/gguf_quants.cpp's header):
//   Q2_K 84 bytes, Q3_K 110, Q4_K 144, Q5_K 176, Q6_K 210:  y = (d * scale) * q - (dmin * min)
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace slm::cuda {

// The block types handled here (GGML type numbers in the comments).
enum class QuantType {
  q4_0 /* 2 */, q4_1 /* 3 */, q5_0 /* 6 */, q5_1 /* 7 */, q8_0 /* 8 */,
  q2_k /* 10 */, q3_k /* 11 */, q4_k /* 12 */, q5_k /* 13 */, q6_k /* 14 */
};

struct DequantParams {
  QuantType type = QuantType::q8_0;
  const void* blocks = nullptr;  // n / quant_block_elements(type) blocks of `type`, packed (any alignment)
  std::int64_t n = 0;            // elements; a multiple of the block size
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
};

std::int64_t quant_block_elements(QuantType type);  // 32, or 256 for the K-quants
std::int64_t quant_block_bytes(QuantType type);     // 18 (Q4_0) .. 210 (Q6_K)

// Both overwrite out[n]; enqueued on `stream`. Throw slm::Error when n is not a multiple of the
// block size.
void dequantize_fp32(const DequantParams& p, float* out, cudaStream_t stream);
void dequantize_bf16(const DequantParams& p, __nv_bfloat16* out, cudaStream_t stream);

}  // namespace slm::cuda
