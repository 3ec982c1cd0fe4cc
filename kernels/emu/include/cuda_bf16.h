// cuda_bf16.h — stand-in for the CUDA toolkit header of this name in the g++ build of kernels/cuda:
// the 16-bit float types live in kernels/emu/types.h. Holds nothing itself.
#pragma once
#include "kernels/emu/cuda_shim.h"
