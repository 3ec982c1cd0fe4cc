// unroll.cuh — loop-unrolling hints for nvcc, empty in the harness build (g++ would warn about
// the unknown pragma). Loops over register tiles and fragments must unroll fully, or their
// arrays move to local memory (a stack frame: tests/cli/test_ptxas_report.sh rejects it).
#pragma once

#if defined(__CUDACC__)
#define SLM_PRAGMA(x) _Pragma(#x)
#define SLM_UNROLL _Pragma("unroll")
#define SLM_UNROLL_N(n) SLM_PRAGMA(unroll n)
#define SLM_NO_UNROLL _Pragma("unroll 1")
#else
#define SLM_UNROLL
#define SLM_UNROLL_N(n)
#define SLM_NO_UNROLL
#endif
