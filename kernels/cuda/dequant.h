// dequant.h — dequantization of GGML's Q4_0, Q4_1 and Q8_0 blocks on the GPU, to fp32 or to bf16
// (CUDA twin of slm::dequantize in checkpoints/gguf_quants.h for these types: the same blocks as
// they lie in a GGUF file, the same float32 operations, so the fp32 results are equal bit for bit;
// bf16 is that fp32 value rounded to nearest even).
// Does not hold: the K-quants and Q5_0/Q5_1 (not yet), quantization, file parsing
// (checkpoints/gguf.h), fusion into a GEMM's operand loads.
//
// Blocks (32 elements each; "h" = fp16, little endian; element j < 16 from the low nibble of
// qs[j], j >= 16 from the high nibble of qs[j - 16]):
//   Q4_0  [h d][16 qs]            y = d * (nibble - 8)
//   Q4_1  [h d][h m][16 qs]       y = d * nibble + m        (two roundings, no FMA)
//   Q8_0  [h d][32 int8 q]        y = q * d
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace slm::cuda {

// The block types handled here (GGML type numbers in the comments).
enum class QuantType { q4_0 /* 2 */, q4_1 /* 3 */, q8_0 /* 8 */ };

struct DequantParams {
  QuantType type = QuantType::q8_0;
  const void* blocks = nullptr;  // n / 32 blocks of `type`, packed (any alignment)
  std::int64_t n = 0;            // elements; a multiple of 32
  int max_blocks = 0;  // grid size limit, 0 for the launcher's (tests set it to make blocks loop)
};

std::int64_t quant_block_bytes(QuantType type);  // 18, 20 or 34

// Both overwrite out[n]; enqueued on `stream`. Throw slm::Error when n is not a multiple of 32.
void dequantize_fp32(const DequantParams& p, float* out, cudaStream_t stream);
void dequantize_bf16(const DequantParams& p, __nv_bfloat16* out, cudaStream_t stream);

}  // namespace slm::cuda
