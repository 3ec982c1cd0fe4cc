// nccl.h — stand-in for the NCCL header in the g++ build (kernels/emu/nccl.h).
// Holds nothing itself.
#pragma once
#include "kernels/emu/nccl.h"
