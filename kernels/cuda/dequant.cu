// dequant.cu — Q4_0 / Q4_1 / Q8_0 dequantization kernels: one thread per (block, j < 16) pair,
// writing elements j and j + 16 of its block (both nibbles of qs[j] for the 4-bit types), so the
// 16 threads of a block write 64 contiguous bytes of fp32 per half; grid-stride over all pairs.
// Blocks are read byte by byte (Q4_0 and Q8_0 blocks are only 2-byte aligned in a file).
// Bit-exact with checkpoints/gguf_quants.cpp: the fp16 scales are widened exactly, and products
// and sums are __fmul_rn / __fadd_rn so nvcc cannot contract them into an FMA.
// Does not hold: the CPU twin (checkpoints/gguf_quants.cpp), other types.
#include "kernels/cuda/dequant.h"

#include "kernels/cuda/launch.cuh"

namespace slm::cuda {
namespace {

constexpr int k_threads = 256;
constexpr std::int64_t k_max_blocks = 4096;  // 2^20 pairs per pass; more are taken by grid-stride
constexpr int k_block = 32;                      // elements per quant block

template <QuantType Q>
struct QuantTraits;
template <>
struct QuantTraits<QuantType::q4_0> {
  static constexpr int bytes = 18;
};
template <>
struct QuantTraits<QuantType::q4_1> {
  static constexpr int bytes = 20;
};
template <>
struct QuantTraits<QuantType::q8_0> {
  static constexpr int bytes = 34;
};

// The fp16 at b[0..1] (little endian) widened to fp32 exactly, subnormals included.
__device__ __forceinline__ float half_at(const std::uint8_t* b) {
  const unsigned h = static_cast<unsigned>(b[0]) | (static_cast<unsigned>(b[1]) << 8);
  const unsigned sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return __uint_as_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24 is exact in fp32.
  return __uint_as_float(sign | __float_as_uint(static_cast<float>(mantissa) * 5.9604644775390625e-8f));
}

__device__ __forceinline__ void store(float* out, std::int64_t i, float v) { out[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16* out, std::int64_t i, float v) { out[i] = __float2bfloat16_rn(v); }

// Elements j and j + 16 of block b, in gguf_quants.cpp's operations.
template <QuantType Q>
__device__ __forceinline__ float2 dequant_pair(const std::uint8_t* b, int j) {
  if constexpr (Q == QuantType::q4_0) {
    const float d = half_at(b);
    const unsigned q = b[2 + j];
    return make_float2(__fmul_rn(d, static_cast<float>(static_cast<int>(q & 0xFu) - 8)),
                       __fmul_rn(d, static_cast<float>(static_cast<int>(q >> 4) - 8)));
  } else if constexpr (Q == QuantType::q4_1) {
    const float d = half_at(b), m = half_at(b + 2);
    const unsigned q = b[4 + j];
    return make_float2(__fadd_rn(__fmul_rn(d, static_cast<float>(q & 0xFu)), m),
                       __fadd_rn(__fmul_rn(d, static_cast<float>(q >> 4)), m));
  } else {
    const float d = half_at(b);
    const auto lo = static_cast<std::int8_t>(b[2 + j]), hi = static_cast<std::int8_t>(b[2 + 16 + j]);
    return make_float2(__fmul_rn(static_cast<float>(lo), d), __fmul_rn(static_cast<float>(hi), d));
  }
}

template <QuantType Q, typename Out>
__global__ void __launch_bounds__(k_threads) dequant_kernel(DequantParams p, Out* out) {
  const auto* blocks = static_cast<const std::uint8_t*>(p.blocks);
  const std::int64_t pairs = p.n / 2;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < pairs; k += stride) {
    const std::int64_t block = k / 16;
    const int j = static_cast<int>(k - block * 16);
    const float2 y = dequant_pair<Q>(blocks + block * QuantTraits<Q>::bytes, j);
    store(out, block * k_block + j, y.x);
    store(out, block * k_block + j + 16, y.y);
  }
}

template <typename Out>
void launch_dequant(const DequantParams& p, Out* out, cudaStream_t stream) {
  SLM_CHECK(p.n >= 0 && p.n % k_block == 0, "internal: cuda dequantization of ", p.n,
            " elements; quantized tensors hold whole blocks of 32 (check the tensor's shape)");
  if (p.n == 0) return;
  const std::int64_t needed = (p.n / 2 + k_threads - 1) / k_threads;
  const std::int64_t limit = p.max_blocks > 0 ? p.max_blocks : k_max_blocks;
  const dim3 grid(static_cast<unsigned>(needed < limit ? needed : limit));
  switch (p.type) {
    case QuantType::q4_0: return launch(dequant_kernel<QuantType::q4_0, Out>, grid, dim3(k_threads), 0, stream, p, out);
    case QuantType::q4_1: return launch(dequant_kernel<QuantType::q4_1, Out>, grid, dim3(k_threads), 0, stream, p, out);
    case QuantType::q8_0: return launch(dequant_kernel<QuantType::q8_0, Out>, grid, dim3(k_threads), 0, stream, p, out);
  }
  SLM_FAIL("internal: cuda dequantization of an unknown block type ", static_cast<int>(p.type));
}

}  // namespace

std::int64_t quant_block_bytes(QuantType type) {
  switch (type) {
    case QuantType::q4_0: return QuantTraits<QuantType::q4_0>::bytes;
    case QuantType::q4_1: return QuantTraits<QuantType::q4_1>::bytes;
    case QuantType::q8_0: return QuantTraits<QuantType::q8_0>::bytes;
  }
  SLM_FAIL("internal: unknown quant block type ", static_cast<int>(type));
}

void dequantize_fp32(const DequantParams& p, float* out, cudaStream_t stream) { launch_dequant(p, out, stream); }
void dequantize_bf16(const DequantParams& p, __nv_bfloat16* out, cudaStream_t stream) { launch_dequant(p, out, stream); }

}  // namespace slm::cuda
