// library_versions.cpp — queries the linked CUDA libraries for their versions. None of these
// calls needs a GPU, so `slmtune version` works (and proves the links) on every machine.
#include "kernels/cuda/library_versions.h"

#include <cublasLt.h>
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <sstream>

namespace slm::cuda {
namespace {
std::string dotted(int v, int major_div, int minor_div) {
  std::ostringstream os;
  os << v / major_div << "." << (v % major_div) / minor_div << "." << v % minor_div;
  return os.str();
}
}  // namespace

std::string library_versions() {
  std::ostringstream os;
  int runtime = 0, driver = 0, devices = 0;
  cudaRuntimeGetVersion(&runtime);
  os << "CUDA runtime " << dotted(runtime, 1000, 10) << "\n";
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
    os << "CUDA driver  " << dotted(driver, 1000, 10) << "\n";
  else
    os << "CUDA driver  none\n";
  int cublas = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas);
  int cublas_minor = 0, cublas_patch = 0;
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  cublasGetProperty(PATCH_LEVEL, &cublas_patch);
  os << "cuBLAS       " << cublas << "." << cublas_minor << "." << cublas_patch << "\n";
  os << "cuBLASLt     " << dotted(static_cast<int>(cublasLtGetVersion()), 10000, 100) << "\n";
  int nccl = 0;
  ncclGetVersion(&nccl);
  os << "NCCL         " << dotted(nccl, 10000, 100) << "\n";
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  cudaGetLastError();  // clear the "no device" error so later calls start clean
  os << "CUDA devices " << devices << "\n";
  return os.str();
}

}  // namespace slm::cuda
