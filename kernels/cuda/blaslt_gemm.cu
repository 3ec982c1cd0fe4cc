// blaslt_gemm.cu — BlasLtGemm (blaslt_gemm.h): the frozen-weight GEMMs on cuBLASLt with cached
// descriptors. Host code only: no kernels, so it adds nothing to kernels/cuda/ptxas_report.md. A
// .cu so that it builds both with nvcc into slm_cuda (against the toolkit's cublasLt.h) and with
// g++ into the emulation harness (against kernels/emu/cublaslt.h).
//
// Row-major to cuBLASLt's column-major: a row-major [R, C] matrix is a column-major [C, R] one
// with the same leading dimension, so out = a b computes out^T = b^T a^T with the operands
// swapped, and no layout carries CUBLASLT_MATRIX_LAYOUT_ORDER (column order is what every
// cuBLASLt algorithm supports):
//   nt: out^T[N, M] = op_T(w as col-major [K, N]) * (x as col-major [K, M])     transa T, transb N
//   nn: out^T[K, M] =      (w as col-major [K, N]) * (dy as col-major [N, M])   transa N, transb N
#include "kernels/cuda/blaslt_gemm.h"

#include <cstdint>

#include "kernels/cuda/check.h"  // SLM_CUDA_CHECK, SLM_CUBLAS_CHECK, SLM_FAIL

namespace slm::cuda {
namespace {

// The largest power of two up to 256 that divides the address (256 for nullptr).
int alignment_bytes(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  int bytes = 1;
  while (bytes < 256 && address % (2u * bytes) == 0) bytes *= 2;
  return bytes;
}

// The column-major product: D is rows x cols, contracting over depth.
struct ColumnMajor {
  int rows, cols, depth;
};
ColumnMajor column_major(bool nt, int m, int n, int k) { return nt ? ColumnMajor{n, m, k} : ColumnMajor{k, m, n}; }
const char* op_name(bool nt) { return nt ? "BlasLtGemm::nt" : "BlasLtGemm::nn"; }

}  // namespace

BlasLtGemm::BlasLtGemm(std::size_t workspace_bytes) : workspace_bytes_(workspace_bytes) {
  if (workspace_bytes_ > 0) SLM_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
  const cublasStatus_t status = cublasLtCreate(&handle_);
  if (status != CUBLAS_STATUS_SUCCESS) {
    cudaFree(workspace_);  // the destructor does not run for a throwing constructor
    SLM_CUBLAS_CHECK(status);
  }
}

BlasLtGemm::~BlasLtGemm() {
  for (auto& [key, plan] : plans_) destroy(plan);
  cublasLtDestroy(handle_);
  cudaFree(workspace_);
}

void BlasLtGemm::destroy(Plan& plan) {
  // Statuses ignored: this runs in the destructor and on the error path of plan().
  if (plan.c) cublasLtMatrixLayoutDestroy(plan.c);
  if (plan.b) cublasLtMatrixLayoutDestroy(plan.b);
  if (plan.a) cublasLtMatrixLayoutDestroy(plan.a);
  if (plan.desc) cublasLtMatmulDescDestroy(plan.desc);
  plan = Plan{};
}

void BlasLtGemm::nt(float* out, const __nv_bfloat16* x, const __nv_bfloat16* w, int m, int n, int k, float beta,
                    cudaStream_t stream) {
  run(Kind::nt, out, x, w, m, n, k, beta, stream);
}

void BlasLtGemm::nn(float* out, const __nv_bfloat16* dy, const __nv_bfloat16* w, int m, int n, int k, float beta,
                    cudaStream_t stream) {
  run(Kind::nn, out, dy, w, m, n, k, beta, stream);
}

void BlasLtGemm::run(Kind kind, float* out, const __nv_bfloat16* act, const __nv_bfloat16* w, int m, int n, int k,
                     float beta, cudaStream_t stream) {
  const char* name = op_name(kind == Kind::nt);
  SLM_CHECK(m >= 0 && n >= 0 && k >= 0, name, ": negative shape M ", m, ", N ", n, ", K ", k);
  const ColumnMajor cm = column_major(kind == Kind::nt, m, n, k);
  if (cm.rows == 0 || cm.cols == 0) return;  // an empty output
  if (cm.depth == 0) {                       // an empty sum: out = beta * out
    if (beta == 0.0f) SLM_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float) * cm.rows * cm.cols, stream));
    SLM_CHECK(beta == 0.0f || beta == 1.0f, name, ": an empty contraction (M ", m, ", N ", n, ", K ", k,
              ") with beta ", beta, " is not supported (only 0 and 1)");
    return;
  }
  SLM_CHECK(out && act && w, name, ": null pointer (M ", m, ", N ", n, ", K ", k, ")");
  const int align_out = alignment_bytes(out), align_act = alignment_bytes(act), align_w = alignment_bytes(w);
  SLM_CHECK(align_out >= 4 && align_act >= 2 && align_w >= 2, name,
            ": operands must be aligned to their element size (out 4 bytes, inputs 2 bytes)");
  const Plan& p = plan(Key{kind, m, n, k, align_out, align_act, align_w});
  const float alpha = 1.0f;
  // A is always w, B the activation; C and D are both out (in place).
  SLM_CUBLAS_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, act, p.b, &beta, out, p.c, out, p.c, &p.algo,
                                  workspace_, workspace_bytes_, stream));
}

const BlasLtGemm::Plan& BlasLtGemm::plan(const Key& key) {
  if (const auto found = plans_.find(key); found != plans_.end()) return found->second;
  const auto [kind, m, n, k, align_out, align_act, align_w] = key;
  const ColumnMajor cm = column_major(kind == Kind::nt, m, n, k);
  Plan p;
  cublasLtMatmulPreference_t preference = nullptr;
  try {
    SLM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const std::int32_t transa = kind == Kind::nt ? CUBLAS_OP_T : CUBLAS_OP_N, transb = CUBLAS_OP_N;
    SLM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
    SLM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
    // w is column-major [K, N] (ld K) in both kinds; nt transposes it.
    SLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, k, n, k));
    SLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, cm.depth, cm.cols, cm.depth));
    SLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, cm.rows, cm.cols, cm.rows));

    SLM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
    const std::uint64_t workspace = workspace_bytes_;
    SLM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                          &workspace, sizeof(workspace)));
#if defined(CUBLAS_VER_MAJOR)  // the toolkit's cuBLASLt; the stand-in ignores alignment and has no such attributes
    // The heuristic assumes 256-byte aligned operands unless told otherwise.
    const std::uint32_t a_align = align_w, b_align = align_act, c_align = align_out;
    SLM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                          &a_align, sizeof(a_align)));
    SLM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                          &b_align, sizeof(b_align)));
    SLM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                          &c_align, sizeof(c_align)));
    SLM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                          &c_align, sizeof(c_align)));
#else
    (void)align_out, (void)align_act, (void)align_w;
#endif
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    SLM_CUBLAS_CHECK(
        cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.c, p.c, preference, 1, &result, &returned));
    SLM_CHECK(returned > 0, op_name(kind == Kind::nt), ": cuBLASLt offers no algorithm for M ", m, ", N ", n, ", K ",
              k, " with a ", workspace_bytes_, "-byte workspace and operand alignments out ", align_out, ", input ",
              align_act, ", w ", align_w, " bytes; try a larger workspace or aligned operands");
    p.algo = result.algo;
    cublasLtMatmulPreferenceDestroy(preference);
    preference = nullptr;
    const Plan& cached = plans_.emplace(key, p).first->second;
    ++misses_;
    return cached;
  } catch (...) {
    if (preference) cublasLtMatmulPreferenceDestroy(preference);
    destroy(p);
    throw;
  }
}

}  // namespace slm::cuda
