// bf16_round.h — a finite fp32 value rounded to the nearest bf16 (ties to even), kept as fp32: how
// the CPU emulates the CUDA backend's bf16 operands (CpuBackendOptions::bf16_operands,
// AttentionProbabilities::bf16). Does not hold: NaN payloads or storage as 16 bits
// (checkpoints/dtype.h converts files).
#pragma once

#include <cstdint>
#include <cstring>

namespace slm::cpu {

inline float round_to_bf16(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
  std::memcpy(&x, &bits, 4);
  return x;
}

}  // namespace slm::cpu
