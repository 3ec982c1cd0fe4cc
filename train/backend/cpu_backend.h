// cpu_backend.h — the Backend on the CPU: every op is the kernels/cpu function of the same name,
// on host memory, threaded with OpenMP. Frozen weights and mirrored arrays are used in place.
// Also holds what the CPU ops need besides their operands: scratch, dropout masks drawn on the
// host, and DoRA's row norms and magnitude gradients.
#pragma once

#include <memory>

#include "train/backend/backend.h"

namespace slm {

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace slm
