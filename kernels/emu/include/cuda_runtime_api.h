// cuda_runtime_api.h — stand-in for the CUDA toolkit header of this name in the g++ build of kernels/cuda
// (kernels/emu/include comes first on its include path): the runtime stand-ins and the device
// shim. Holds nothing itself.
#pragma once
#include "kernels/emu/cuda_shim.h"
#include "kernels/emu/runtime.h"
