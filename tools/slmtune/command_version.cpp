// command_version.cpp — `slmtune version`: our version, the build, and the CUDA libraries.
#include <iostream>

#include "tools/slmtune/commands.h"
#if defined(SLM_HAVE_CUDA)
#include "kernels/cuda/library_versions.h"
#endif

namespace slm::cli {

int run_version(const ParsedArgs&) {
  std::cout << "slmtune " SLM_VERSION "\n";
  std::cout << "built with g++ " << __GNUC__ << "." << __GNUC_MINOR__ << ", C++" << __cplusplus / 100 % 100 << "\n";
#if defined(SLM_HAVE_CUDA)
  std::cout << "CUDA backend: sm_80, sm_90\n" << slm::cuda::library_versions();
#else
  std::cout << "CUDA backend: not built (nvcc was not found at configure time)\n";
#endif
  return 0;
}

}  // namespace slm::cli
