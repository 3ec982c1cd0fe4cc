// library_versions.h — what the CUDA build links and what it finds at run time: the CUDA runtime
// and driver, cuBLAS, cuBLASLt and NCCL versions, and the visible device count.
#pragma once

#include <string>

namespace slm::cuda {

// One line per library, for `slmtune version`; never throws (a missing driver is reported).
std::string library_versions();

}  // namespace slm::cuda
