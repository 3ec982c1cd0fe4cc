// cublasLt.h — stand-in for the cuBLASLt header in the g++ build (kernels/emu/cublaslt.h).
// Holds nothing itself.
#pragma once
#include "kernels/emu/cublaslt.h"
