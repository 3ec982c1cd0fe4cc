// cublas_v2.h — stand-in for the cuBLAS header in the g++ build (kernels/emu/cublas.h).
// Holds nothing itself.
#pragma once
#include "kernels/emu/cublas.h"
