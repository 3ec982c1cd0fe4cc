// cpu_backend.h — the Backend on the CPU: every op is the kernels/cpu function of the same name,
// on host memory, threaded with OpenMP. Frozen weights and mirrored arrays are used in place.
// Also holds what the CPU ops need besides their operands: scratch, dropout masks drawn on the
// host, and DoRA's row norms and magnitude gradients.
#pragma once

#include <memory>

#include "train/backend/backend.h"

namespace slm {

struct CpuBackendOptions {
  // Round every operand the CUDA backend rounds to bf16 before using it (the inputs of the base
  // products, of attention and of the lm_head product, and attention's probabilities; give it a
  // model whose weights are rounded too): the CPU reference at the CUDA backend's precision, which
  // tests measure it against.
  bool bf16_operands = false;
};

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options = {});

}  // namespace slm
