// gguf_quants.cpp — GGML block geometry and bit-exact dequantizers (one function per type).
//
// Each dequantizer turns one block into floats with exactly the float32 operations of gguf-py's
// quants.py, in its order: scales widened fp16 -> fp32 first, then products such as
// d_sub = d * float(scale) rounded on their own, then `d_sub * q - m_sub` (two roundings; this
// file is built with -ffp-contract=off so no FMA merges them). Loops over the 32 elements of a
// sub-block are plain so the compiler can vectorize them.
// Also holds the quantizers to F16, BF16 and Q8_0 (gguf-py's quantize, same float32 operations).
// Does not hold: quantization to other types, IQ* types, file parsing.
//
// Block layouts (bytes; "h" = fp16, elements in output order):
//   Q4_0  [h d][16 qs]                  q = nibble - 8; element j<16 low nibble of qs[j], j>=16
//   high Q4_1  [h d][h m][16 qs]             d * q + m Q5_0  [h d][u32 qh][16 qs]          q =
//   (nibble | bit j of qh << 4) - 16 Q5_1  [h d][h m][u32 qh][16 qs]     d * q + m Q8_0  [h d][32
//   int8] Q2_K  [16 scales][64 qs][h d][h dmin]                 16 sub-blocks of 16, 2-bit q Q3_K
//   [32 hmask][64 qs][12 scales][h d]                16 sub-blocks of 16, 6-bit signed scales Q4_K
//   [h d][h dmin][12 scales][128 qs]                 8 sub-blocks of 32, 6-bit scale/min Q5_K  [h
//   d][h dmin][12 scales][32 qh][128 qs] Q6_K  [128 ql][64 qh][16 int8 scales][h d]             16
//   sub-blocks of 16
#include "checkpoints/gguf_quants.h"

#include <algorithm>  // std::max
#include <bit>
#include <cmath>
#include <cstring>

#include "checkpoints/dtype.h"
#include "train/core/error.h"

namespace slm {
namespace {

using u8 = std::uint8_t;

float half_at(const u8* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

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

struct TypeInfo {
  GgmlType type;
  std::string_view name;
  std::int64_t block;  // elements per block
  std::size_t bytes;   // bytes per block
  BlockFn dequant;     // nullptr: plain float type, or not dequantizable
};

// Q8_1 is 36 bytes as ggml lays it out (two fp16 + 32 int8); gguf-py's table says 40.
constexpr TypeInfo k_types[] = {
    {GgmlType::F32, "F32", 1, 4, nullptr},
    {GgmlType::F16, "F16", 1, 2, nullptr},
    {GgmlType::BF16, "BF16", 1, 2, nullptr},
    {GgmlType::Q4_0, "Q4_0", 32, 18, dequant_q4_0},
    {GgmlType::Q4_1, "Q4_1", 32, 20, dequant_q4_1},
    {GgmlType::Q5_0, "Q5_0", 32, 22, dequant_q5_0},
    {GgmlType::Q5_1, "Q5_1", 32, 24, dequant_q5_1},
    {GgmlType::Q8_0, "Q8_0", 32, 34, dequant_q8_0},
    {GgmlType::Q8_1, "Q8_1", 32, 36, nullptr},
    {GgmlType::Q2_K, "Q2_K", 256, 84, dequant_q2_k},
    {GgmlType::Q3_K, "Q3_K", 256, 110, dequant_q3_k},
    {GgmlType::Q4_K, "Q4_K", 256, 144, dequant_q4_k},
    {GgmlType::Q5_K, "Q5_K", 256, 176, dequant_q5_k},
    {GgmlType::Q6_K, "Q6_K", 256, 210, dequant_q6_k},
    {GgmlType::Q8_K, "Q8_K", 256, 292, nullptr},
};

const TypeInfo& info(GgmlType type) {
  for (const TypeInfo& t : k_types)
    if (t.type == type) return t;
  SLM_FAIL("GGML type number ", static_cast<std::uint32_t>(type),
           " is not supported; this is a bug in the caller (types are checked on open)");
}

}  // namespace

std::string_view ggml_type_name(GgmlType type) { return info(type).name; }
std::int64_t ggml_block_elements(GgmlType type) { return info(type).block; }
std::size_t ggml_block_bytes(GgmlType type) { return info(type).bytes; }

std::optional<GgmlType> ggml_type_from_number(std::uint32_t number) {
  for (const TypeInfo& t : k_types)
    if (static_cast<std::uint32_t>(t.type) == number) return t.type;
  return std::nullopt;
}

std::string_view ggml_type_number_name(std::uint32_t number) {
  for (const TypeInfo& t : k_types)
    if (static_cast<std::uint32_t>(t.type) == number) return t.name;
  static constexpr std::string_view others[] = {"IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
                                                "IQ3_S",   "IQ2_S",  "IQ4_XS",  "I8",    "I16",
                                                "I32",     "I64",    "F64",     "IQ1_M"};  // 16..29
  if (number >= 16 && number <= 29) return others[number - 16];
  switch (number) {
    case 4:
    case 5:
      return "Q4_2/Q4_3 (removed from ggml)";
    case 34:
      return "TQ1_0";
    case 35:
      return "TQ2_0";
    case 39:
      return "MXFP4";
    default:
      return "unknown";
  }
}

bool ggml_type_dequantizable(GgmlType type) {
  const TypeInfo& t = info(type);
  return t.dequant != nullptr || t.block == 1;
}

void dequantize(GgmlType type, const void* src, float* dst, std::int64_t n) {
  const TypeInfo& t = info(type);
  if (!ggml_type_dequantizable(type))
    SLM_FAIL("dequantize: type ", t.name,
             " cannot be dequantized by slmtune; re-quantize the "
             "model to Q8_0, Q4_0..Q5_1 or Q2_K..Q6_K");
  if (n < 0 || n % t.block != 0)
    SLM_FAIL("dequantize: ", n, " elements of ", t.name, " is not a whole number of blocks of ",
             t.block, "; this is a bug in the caller");
  const auto* s = static_cast<const u8*>(src);
  const auto count = static_cast<std::size_t>(n);
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, s, count * 4);
      return;
    case GgmlType::F16:
      convert_to_fp32(DType::F16, s, dst, count);
      return;
    case GgmlType::BF16:
      convert_to_fp32(DType::BF16, s, dst, count);
      return;
    default:
      break;
  }
  const std::int64_t blocks = n / t.block;
  for (std::int64_t i = 0; i < blocks; ++i)
    t.dequant(s + static_cast<std::size_t>(i) * t.bytes, dst + i * t.block);
}

void dequantize_tensor(const GgufTensor& t, float* dst) {
  try {
    dequantize(t.type, t.data, dst, t.num_elements());
  } catch (const Error& e) {
    SLM_FAIL("tensor '", t.name, "': ", e.what());
  }
}

// --- quantization -----------------------------------------------------------------------------

namespace {

// gguf-py's BF16.quantize_blocks (ggml_compute_fp32_to_bf16): NaN made quiet keeping the top
// bits, then round to nearest even in 64-bit integers (no overflow for the largest finite values).
std::uint16_t bf16_like_gguf(float f) {
  std::uint32_t n = std::bit_cast<std::uint32_t>(f);
  if ((n & 0x7fffffffu) > 0x7f800000u) n = (n & 0xffff0000u) | (64u << 16);
  const std::uint64_t r = (static_cast<std::uint64_t>(n) + (0x7fffu + ((n >> 16) & 1u))) >> 16;
  return static_cast<std::uint16_t>(r);
}

// gguf-py's Q8_0.quantize_blocks on one block of 32: all float32 operations, no FMA (the file is
// built with -ffp-contract=off). std::round rounds halves away from zero, as np_roundf does.
void quant_q8_0(const float* x, u8* b) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d == 0.0f ? 0.0f : 1.0f / d;
  const std::uint16_t dh = fp32_to_fp16(d);
  std::memcpy(b, &dh, 2);
  for (int j = 0; j < 32; ++j) {
    const float q = std::round(x[j] * id);
    b[2 + j] = static_cast<u8>(static_cast<std::int8_t>(static_cast<int>(q)));
  }
}

}  // namespace

bool ggml_type_quantizable(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 || type == GgmlType::Q8_0;
}

void quantize(GgmlType type, const float* src, void* dst, std::int64_t n) {
  const TypeInfo& t = info(type);
  if (!ggml_type_quantizable(type))
    SLM_FAIL("quantize: slmtune writes F32, F16, BF16 and Q8_0, not ", t.name,
             "; export as one of those (llama.cpp's llama-quantize makes the other types from an F16 GGUF)");
  if (n < 0 || n % t.block != 0)
    SLM_FAIL("quantize: ", n, " elements of ", t.name, " is not a whole number of blocks of ", t.block,
             "; this is a bug in the caller");
  auto* d = static_cast<u8*>(dst);
  const auto count = static_cast<std::size_t>(n);
  switch (type) {
    case GgmlType::F32:
      std::memcpy(d, src, count * 4);
      return;
    case GgmlType::F16:
      for (std::size_t i = 0; i < count; ++i) {
        const std::uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(d + 2 * i, &h, 2);
      }
      return;
    case GgmlType::BF16:
      for (std::size_t i = 0; i < count; ++i) {
        const std::uint16_t h = bf16_like_gguf(src[i]);
        std::memcpy(d + 2 * i, &h, 2);
      }
      return;
    default:
      break;
  }
  for (std::int64_t i = 0; i < n / 32; ++i) quant_q8_0(src + i * 32, d + static_cast<std::size_t>(i) * t.bytes);
}

}  // namespace slm
