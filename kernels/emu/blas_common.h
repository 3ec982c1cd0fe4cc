// blas_common.h — element access shared by the cuBLAS and cuBLASLt stand-ins: fp32, bf16 and
// fp16 elements read as fp32 and written back rounded to nearest even.
// Does not hold: any GEMM (cublas.cpp, cublaslt.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/emu/cublas.h"
#include "kernels/emu/types.h"

namespace slm::emu::blas {

inline std::size_t element_bytes(cudaDataType_t type) { return type == CUDA_R_32F ? 4 : 2; }

inline bool supported(cudaDataType_t type) {
  return type == CUDA_R_32F || type == CUDA_R_16F || type == CUDA_R_16BF;
}

inline float load(const void* base, cudaDataType_t type, std::size_t i) {
  if (type == CUDA_R_32F) return static_cast<const float*>(base)[i];
  const std::uint16_t bits = static_cast<const std::uint16_t*>(base)[i];
  return type == CUDA_R_16BF ? bf16_bits_to_float(bits) : half_bits_to_float(bits);
}

inline void store(void* base, cudaDataType_t type, std::size_t i, float v) {
  if (type == CUDA_R_32F) {
    static_cast<float*>(base)[i] = v;
  } else {
    static_cast<std::uint16_t*>(base)[i] = type == CUDA_R_16BF ? float_to_bf16_bits(v) : float_to_half_bits(v);
  }
}

}  // namespace slm::emu::blas
