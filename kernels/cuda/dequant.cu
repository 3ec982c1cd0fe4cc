// dequant.cu — dequantization kernels, grid-stride:
//  - blocks of 32 (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): one thread per (block, j < 16) pair, writing
//    elements j and j + 16 (both nibbles of qs[j] for the 4- and 5-bit types);
//  - super-blocks of 256 (Q2_K .. Q6_K): one thread per element, decoding its sub-block's scale
//    and its quant bits (neighbouring threads read the same scale bytes, which the cache serves).
// Either way consecutive threads write consecutive outputs. Blocks are read byte by byte (most
// types are only 2-byte aligned in a file).
// Bit-exact with checkpoints/gguf_quants.cpp: the fp16 scales are widened exactly, and each
// product and sum is its own __fmul_rn / __fadd_rn so nvcc cannot contract them into an FMA.
// Does not hold: the CPU twin (checkpoints/gguf_quants.cpp).
#include "kernels/cuda/dequant.h"

#include "kernels/cuda/launch.cuh"

namespace slm::cuda {
namespace {

using u8 = std::uint8_t;

constexpr int k_threads = 256;
constexpr std::int64_t k_max_blocks = 4096;  // 2^20 threads; more work is taken by grid-stride

template <QuantType Q>
struct QuantTraits;
#define SLM_QUANT_TRAITS(type, elements_, bytes_) \
  template <>                                     \
  struct QuantTraits<QuantType::type> {           \
    static constexpr int elements = elements_;    \
    static constexpr int bytes = bytes_;          \
  };
SLM_QUANT_TRAITS(q4_0, 32, 18)
SLM_QUANT_TRAITS(q4_1, 32, 20)
SLM_QUANT_TRAITS(q5_0, 32, 22)
SLM_QUANT_TRAITS(q5_1, 32, 24)
SLM_QUANT_TRAITS(q8_0, 32, 34)
SLM_QUANT_TRAITS(q2_k, 256, 84)
SLM_QUANT_TRAITS(q3_k, 256, 110)
SLM_QUANT_TRAITS(q4_k, 256, 144)
SLM_QUANT_TRAITS(q5_k, 256, 176)
SLM_QUANT_TRAITS(q6_k, 256, 210)
#undef SLM_QUANT_TRAITS

// The fp16 at b[0..1] (little endian) widened to fp32 exactly, subnormals included.
__device__ __forceinline__ float half_at(const u8* b) {
  const unsigned h = static_cast<unsigned>(b[0]) | (static_cast<unsigned>(b[1]) << 8);
  const unsigned sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return __uint_as_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24 is exact in fp32.
  return __uint_as_float(sign | __float_as_uint(static_cast<float>(mantissa) * 5.9604644775390625e-8f));
}

__device__ __forceinline__ unsigned u32_at(const u8* b) {
  return static_cast<unsigned>(b[0]) | (static_cast<unsigned>(b[1]) << 8) | (static_cast<unsigned>(b[2]) << 16) |
         (static_cast<unsigned>(b[3]) << 24);
}

__device__ __forceinline__ void store(float* out, std::int64_t i, float v) { out[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16* out, std::int64_t i, float v) { out[i] = __float2bfloat16_rn(v); }

// d * q + m and d * q - m in two roundings.
__device__ __forceinline__ float scale_add(float d, int q, float m) { return __fadd_rn(__fmul_rn(d, static_cast<float>(q)), m); }
__device__ __forceinline__ float scale_sub(float d, int q, float m) { return __fadd_rn(__fmul_rn(d, static_cast<float>(q)), -m); }

// Elements j and j + 16 of a block of 32, in gguf_quants.cpp's operations.
template <QuantType Q>
__device__ __forceinline__ float2 dequant_pair(const u8* b, int j) {
  if constexpr (Q == QuantType::q4_0) {
    const float d = half_at(b);
    const int q = b[2 + j];
    return make_float2(__fmul_rn(d, static_cast<float>((q & 0xF) - 8)), __fmul_rn(d, static_cast<float>((q >> 4) - 8)));
  } else if constexpr (Q == QuantType::q4_1) {
    const float d = half_at(b), m = half_at(b + 2);
    const int q = b[4 + j];
    return make_float2(scale_add(d, q & 0xF, m), scale_add(d, q >> 4, m));
  } else if constexpr (Q == QuantType::q5_0 || Q == QuantType::q5_1) {
    constexpr int qh_at = Q == QuantType::q5_0 ? 2 : 4;
    const unsigned qh = u32_at(b + qh_at);
    const int q = b[qh_at + 4 + j];
    const int lo = (q & 0xF) | static_cast<int>(((qh >> j) & 1u) << 4);
    const int hi = (q >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    const float d = half_at(b);
    if constexpr (Q == QuantType::q5_0) {
      return make_float2(__fmul_rn(d, static_cast<float>(lo - 16)), __fmul_rn(d, static_cast<float>(hi - 16)));
    } else {
      const float m = half_at(b + 2);
      return make_float2(scale_add(d, lo, m), scale_add(d, hi, m));
    }
  } else {
    static_assert(Q == QuantType::q8_0, "blocks of 32 only");
    const float d = half_at(b);
    const auto lo = static_cast<std::int8_t>(b[2 + j]), hi = static_cast<std::int8_t>(b[2 + 16 + j]);
    return make_float2(__fmul_rn(static_cast<float>(lo), d), __fmul_rn(static_cast<float>(hi), d));
  }
}

// The 6-bit scale (first) and min (second) of sub-block j < 8 of a Q4_K / Q5_K block from its
// 12 packed bytes s.
__device__ __forceinline__ int2 k_scale_min(const u8* s, int j) {
  if (j < 4) return make_int2(s[j] & 63, s[j + 4] & 63);
  return make_int2((s[j + 4] & 0xF) | ((s[j - 4] >> 2) & 0x30), (s[j + 4] >> 4) | ((s[j] >> 2) & 0x30));
}

// Element e < 256 of a super-block, in gguf_quants.cpp's operations.
template <QuantType Q>
__device__ __forceinline__ float dequant_element(const u8* b, int e) {
  if constexpr (Q == QuantType::q2_k) {
    const int sc = b[e / 16];
    const float dl = __fmul_rn(half_at(b + 80), static_cast<float>(sc & 0xF));
    const float ml = __fmul_rn(half_at(b + 82), static_cast<float>(sc >> 4));
    const int h = e / 128, s = (e % 128) / 32, half = (e % 32) / 16, l = e % 16;
    const int q = (b[16 + h * 32 + half * 16 + l] >> (2 * s)) & 3;
    return scale_sub(dl, q, ml);
  } else if constexpr (Q == QuantType::q3_k) {
    const u8* s = b + 96;
    const int g = e / 16;
    const int low_scale = g < 8 ? (s[g] & 0xF) : (s[g - 8] >> 4);
    const int high_scale = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
    const float dl = __fmul_rn(half_at(b + 108), static_cast<float>((low_scale | (high_scale << 4)) - 32));
    const int h = e / 128, shift = 2 * ((e % 128) / 32), bit = e / 32, l = e % 32;
    const int low = (b[32 + h * 32 + l] >> shift) & 3;
    const int high_clear = ((b[l] >> bit) & 1) ^ 1;  // subtract 4 when the bit is 0
    return __fmul_rn(dl, static_cast<float>(low - (high_clear << 2)));
  } else if constexpr (Q == QuantType::q4_k || Q == QuantType::q5_k) {
    const int j = e / 32, l = e % 32;
    const int2 sm = k_scale_min(b + 4, j);
    const float dj = __fmul_rn(half_at(b), static_cast<float>(sm.x));
    const float mj = __fmul_rn(half_at(b + 2), static_cast<float>(sm.y));
    constexpr int qs_at = Q == QuantType::q4_k ? 16 : 48;
    int q = (b[qs_at + (j / 2) * 32 + l] >> (4 * (j % 2))) & 0xF;
    if constexpr (Q == QuantType::q5_k) q |= ((b[16 + l] >> j) & 1) << 4;
    return scale_sub(dj, q, mj);
  } else {
    static_assert(Q == QuantType::q6_k, "super-blocks of 256 only");
    const float dg = __fmul_rn(half_at(b + 208), static_cast<float>(static_cast<std::int8_t>(b[192 + e / 16])));
    const int h = e / 128, t = (e % 128) / 32, s = (e % 128) / 64, l = e % 32, m = e % 64;
    const int low = (b[h * 64 + m] >> (4 * s)) & 0xF;
    const int high = (b[128 + h * 32 + l] >> (2 * t)) & 3;
    return __fmul_rn(dg, static_cast<float>((low | (high << 4)) - 32));
  }
}

template <QuantType Q, typename Out>
__global__ void __launch_bounds__(k_threads) dequant32_kernel(DequantParams p, Out* out) {
  using T = QuantTraits<Q>;
  const auto* blocks = static_cast<const u8*>(p.blocks);
  const std::int64_t pairs = p.n / 2;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < pairs; k += stride) {
    const std::int64_t block = k / 16;
    const int j = static_cast<int>(k - block * 16);
    const float2 y = dequant_pair<Q>(blocks + block * T::bytes, j);
    store(out, block * T::elements + j, y.x);
    store(out, block * T::elements + j + 16, y.y);
  }
}

template <QuantType Q, typename Out>
__global__ void __launch_bounds__(k_threads) dequant256_kernel(DequantParams p, Out* out) {
  using T = QuantTraits<Q>;
  const auto* blocks = static_cast<const u8*>(p.blocks);
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride) {
    const std::int64_t block = i / T::elements;
    const int e = static_cast<int>(i - block * T::elements);
    store(out, i, dequant_element<Q>(blocks + block * T::bytes, e));
  }
}

template <QuantType Q, typename Out>
void launch_type(const DequantParams& p, Out* out, cudaStream_t stream) {
  const bool pairs = QuantTraits<Q>::elements == 32;
  const std::int64_t threads_needed = pairs ? p.n / 2 : p.n;
  const std::int64_t needed = (threads_needed + k_threads - 1) / k_threads;
  const std::int64_t limit = p.max_blocks > 0 ? p.max_blocks : k_max_blocks;
  const dim3 grid(static_cast<unsigned>(needed < limit ? needed : limit));
  if constexpr (QuantTraits<Q>::elements == 32) {
    launch(dequant32_kernel<Q, Out>, grid, dim3(k_threads), 0, stream, p, out);
  } else {
    launch(dequant256_kernel<Q, Out>, grid, dim3(k_threads), 0, stream, p, out);
  }
}

template <typename Out>
void launch_dequant(const DequantParams& p, Out* out, cudaStream_t stream) {
  const std::int64_t block = quant_block_elements(p.type);
  SLM_CHECK(p.n >= 0 && p.n % block == 0, "internal: cuda dequantization of ", p.n, " elements; this type holds whole blocks of ",
            block, " (check the tensor's shape)");
  if (p.n == 0) return;
  switch (p.type) {
    case QuantType::q4_0: return launch_type<QuantType::q4_0>(p, out, stream);
    case QuantType::q4_1: return launch_type<QuantType::q4_1>(p, out, stream);
    case QuantType::q5_0: return launch_type<QuantType::q5_0>(p, out, stream);
    case QuantType::q5_1: return launch_type<QuantType::q5_1>(p, out, stream);
    case QuantType::q8_0: return launch_type<QuantType::q8_0>(p, out, stream);
    case QuantType::q2_k: return launch_type<QuantType::q2_k>(p, out, stream);
    case QuantType::q3_k: return launch_type<QuantType::q3_k>(p, out, stream);
    case QuantType::q4_k: return launch_type<QuantType::q4_k>(p, out, stream);
    case QuantType::q5_k: return launch_type<QuantType::q5_k>(p, out, stream);
    case QuantType::q6_k: return launch_type<QuantType::q6_k>(p, out, stream);
  }
  SLM_FAIL("internal: cuda dequantization of an unknown block type ", static_cast<int>(p.type));
}

}  // namespace

std::int64_t quant_block_elements(QuantType type) {
  switch (type) {
    case QuantType::q4_0: case QuantType::q4_1: case QuantType::q5_0: case QuantType::q5_1: case QuantType::q8_0:
      return 32;
    case QuantType::q2_k: case QuantType::q3_k: case QuantType::q4_k: case QuantType::q5_k: case QuantType::q6_k:
      return 256;
  }
  SLM_FAIL("internal: unknown quant block type ", static_cast<int>(type));
}

std::int64_t quant_block_bytes(QuantType type) {
  switch (type) {
    case QuantType::q4_0: return QuantTraits<QuantType::q4_0>::bytes;
    case QuantType::q4_1: return QuantTraits<QuantType::q4_1>::bytes;
    case QuantType::q5_0: return QuantTraits<QuantType::q5_0>::bytes;
    case QuantType::q5_1: return QuantTraits<QuantType::q5_1>::bytes;
    case QuantType::q8_0: return QuantTraits<QuantType::q8_0>::bytes;
    case QuantType::q2_k: return QuantTraits<QuantType::q2_k>::bytes;
    case QuantType::q3_k: return QuantTraits<QuantType::q3_k>::bytes;
    case QuantType::q4_k: return QuantTraits<QuantType::q4_k>::bytes;
    case QuantType::q5_k: return QuantTraits<QuantType::q5_k>::bytes;
    case QuantType::q6_k: return QuantTraits<QuantType::q6_k>::bytes;
  }
  SLM_FAIL("internal: unknown quant block type ", static_cast<int>(type));
}

void dequantize_fp32(const DequantParams& p, float* out, cudaStream_t stream) { launch_dequant(p, out, stream); }
void dequantize_bf16(const DequantParams& p, __nv_bfloat16* out, cudaStream_t stream) { launch_dequant(p, out, stream); }

}  // namespace slm::cuda
