// peak.h — the machine's measured fp32 peak: fused multiply-adds on independent vector
// registers in every OpenMP thread, the ceiling that LoRA-MFU is reported against.
#pragma once

namespace slm::cpu {

// GFLOP/s (an FMA counts 2), best of a few ~0.1 s runs on all threads.
double measure_fp32_peak_gflops();

}  // namespace slm::cpu
