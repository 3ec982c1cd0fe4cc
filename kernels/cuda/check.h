// check.h — the CUDA, cuBLAS and NCCL members of the check-macro family (see train/core/error.h).
//
// Each throws slm::Error with the failing call, its file:line, the library's own error text and
// a hint. Host code only.
#pragma once

#include <cublas_v2.h>  // cublasStatus_t (cuBLAS and cuBLASLt), cublasGetStatusName / String
#include <cuda_runtime_api.h>

#include "train/core/error.h"

#define SLM_CUDA_CHECK(call)                                                                  \
  do {                                                                                        \
    cudaError_t slm_status_ = (call);                                                         \
    if (slm_status_ != cudaSuccess)                                                           \
      SLM_FAIL(__FILE__, ":", __LINE__, ": ", #call, " failed: ", cudaGetErrorName(slm_status_), \
               " (", cudaGetErrorString(slm_status_), "); check that a CUDA device is visible "  \
               "(nvidia-smi) or set train.backend: cpu");                                      \
  } while (0)

// For cuBLAS and cuBLASLt calls (both return cublasStatus_t).
#define SLM_CUBLAS_CHECK(call)                                                                   \
  do {                                                                                           \
    cublasStatus_t slm_status_ = (call);                                                         \
    if (slm_status_ != CUBLAS_STATUS_SUCCESS)                                                    \
      SLM_FAIL(__FILE__, ":", __LINE__, ": ", #call, " failed: ", cublasGetStatusName(slm_status_), \
               " (", cublasGetStatusString(slm_status_), "); check the shapes and alignment of "    \
               "the operands, and that a CUDA device is visible (nvidia-smi) or set train.backend: cpu"); \
  } while (0)
