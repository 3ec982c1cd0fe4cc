// test_stand_ins.cpp — the g++ build's stand-ins for the CUDA runtime, cuBLAS, cuBLASLt and NCCL
// (kernels/emu/runtime.h, cublas.h, cublaslt.h, nccl.h): device memory and copies, device
// properties, column-major GEMMs with every transpose against a naive loop, bf16 inputs through
// GemmEx, cuBLASLt row-major with a transpose, beta and a bias epilogue, and strided batches,
// all-reduce and broadcast among ranks on threads and among ranks driven by one thread in a
// group, and mismatched collectives reported.
// Does not hold: kernels (test_kernels.cpp).
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <nccl.h>

#include <cmath>
#include <thread>
#include <vector>

namespace {

TEST(EmuStandIns, RuntimeMemoryAndProperties) {
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, 100 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(device) % 256, 0u);
  std::vector<float> host(100, 3.0f), back(100, 0.0f);
  EXPECT_EQ(cudaMemcpy(device, host.data(), 100 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemsetAsync(device, 0, 10 * sizeof(float), nullptr), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(back.data(), device, 100 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back[9], 0.0f);
  EXPECT_EQ(back[10], 3.0f);
  EXPECT_EQ(cudaFree(device), cudaSuccess);
  cudaDeviceProp prop;
  EXPECT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_EQ(prop.major, 8);
  EXPECT_EQ(prop.warpSize, 32);
  EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// Column-major reference: C = alpha op(A) op(B) + beta C.
void naive_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const std::vector<float>& a, int lda,
                const std::vector<float>& b, int ldb, float beta, std::vector<float>& c, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < k; ++p)
        s += static_cast<double>(ta ? a[i * lda + p] : a[p * lda + i]) * (tb ? b[p * ldb + j] : b[j * ldb + p]);
      c[j * ldc + i] = static_cast<float>(alpha * s + beta * c[j * ldc + i]);
    }
}

TEST(EmuStandIns, CublasSgemmEveryTranspose) {
  cublasHandle_t handle;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const int m = 5, n = 7, k = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const int lda = (ta ? k : m) + 1, ldb = (tb ? n : k) + 2, ldc = m + 3;
      std::vector<float> a(static_cast<std::size_t>(lda) * (ta ? m : k)), b(static_cast<std::size_t>(ldb) * (tb ? k : n));
      std::vector<float> c(static_cast<std::size_t>(ldc) * n, 1.0f);
      for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 9) - 4.0f;
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 7) - 3.0f;
      std::vector<float> expected = c;
      naive_gemm(ta, tb, m, n, k, 2.0f, a, lda, b, ldb, 0.5f, expected, ldc);
      const float alpha = 2.0f, beta = 0.5f;
      ASSERT_EQ(cublasSgemm(handle, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                            a.data(), lda, b.data(), ldb, &beta, c.data(), ldc),
                CUBLAS_STATUS_SUCCESS);
      for (std::size_t i = 0; i < c.size(); ++i) EXPECT_FLOAT_EQ(c[i], expected[i]) << ta << tb << " " << i;
    }
  EXPECT_EQ(cublasDestroy(handle), CUBLAS_STATUS_SUCCESS);
}

TEST(EmuStandIns, CublasGemmExBf16InputsFp32Output) {
  cublasHandle_t handle;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  // out^T (column-major [n, m]) = W x^T: the row-major y[m, n] = x[m, k] W[n, k]^T.
  const int m = 3, n = 4, k = 5;
  std::vector<__nv_bfloat16> x(m * k), w(n * k);
  std::vector<float> xf(m * k), wf(n * k), y(m * n, NAN);
  for (int i = 0; i < m * k; ++i) xf[i] = static_cast<float>(x[i] = __nv_bfloat16(0.1f * i));
  for (int i = 0; i < n * k; ++i) wf[i] = static_cast<float>(w[i] = __nv_bfloat16(0.3f - 0.05f * i));
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w.data(), CUDA_R_16BF, k, x.data(),
                         CUDA_R_16BF, k, &beta, y.data(), CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int p = 0; p < k; ++p) s += static_cast<double>(xf[i * k + p]) * wf[j * k + p];
      EXPECT_NEAR(y[i * n + j], s, 1e-5) << i << "," << j;  // beta 0 ignores the NaN in y
    }
  cublasDestroy(handle);
}

// y[M, N] = x[M, K] W[N, K]^T + y + bias, row-major bf16 inputs and fp32 output (beta 1).
TEST(EmuStandIns, CublasLtRowMajorWithTransposeBetaAndBias) {
  const int m = 3, n = 5, k = 4;
  std::vector<__nv_bfloat16> x(m * k), w(n * k);
  std::vector<float> y(m * n), bias(m), expected(m * n);
  for (int i = 0; i < m * k; ++i) x[i] = __nv_bfloat16(0.25f * static_cast<float>(i % 7) - 0.5f);
  for (int i = 0; i < n * k; ++i) w[i] = __nv_bfloat16(0.5f * static_cast<float>(i % 5) - 1.0f);
  for (int i = 0; i < m * n; ++i) y[i] = static_cast<float>(i);
  for (int i = 0; i < m; ++i) bias[i] = 100.0f * static_cast<float>(i + 1);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = y[i * n + j] + bias[i];
      for (int p = 0; p < k; ++p) s += static_cast<double>(static_cast<float>(x[i * k + p])) * static_cast<float>(w[j * k + p]);
      expected[i * n + j] = static_cast<float>(s);
    }
  cublasLtHandle_t handle;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, lc;
  ASSERT_EQ(cublasLtCreate(&handle), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  const cublasOperation_t transpose = CUBLAS_OP_T;
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  const float* bias_pointer = bias.data();
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &transpose, sizeof(transpose)),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_pointer, sizeof(bias_pointer)),
            CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, m, k, k), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, n, k, k), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, m, n, n), CUBLAS_STATUS_SUCCESS);
  const std::int32_t row = CUBLASLT_ORDER_ROW;
  for (cublasLtMatrixLayout_t l : {la, lb, lc})
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_ORDER, &row, sizeof(row)), CUBLAS_STATUS_SUCCESS);
  cublasLtMatmulHeuristicResult_t heuristic;
  int found = 0;
  EXPECT_EQ(cublasLtMatmulAlgoGetHeuristic(handle, desc, la, lb, lc, lc, nullptr, 1, &heuristic, &found),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(found, 1);
  const float alpha = 1.0f, beta = 1.0f;
  ASSERT_EQ(cublasLtMatmul(handle, desc, &alpha, x.data(), la, w.data(), lb, &beta, y.data(), lc, y.data(), lc,
                           &heuristic.algo, nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  for (int i = 0; i < m * n; ++i) EXPECT_NEAR(y[i], expected[i], 1e-4f) << i;
  for (cublasLtMatrixLayout_t l : {la, lb, lc}) cublasLtMatrixLayoutDestroy(l);
  cublasLtMatmulDescDestroy(desc);
  cublasLtDestroy(handle);
}

// Two column-major fp32 products in one strided-batched call, against the naive loop.
TEST(EmuStandIns, CublasLtStridedBatches) {
  const int m = 4, n = 3, k = 5, batches = 2;
  std::vector<float> a(batches * m * k), b(batches * k * n), d(batches * m * n, NAN);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 11) - 5.0f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 7) - 3.0f;
  cublasLtHandle_t handle;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, ld;
  ASSERT_EQ(cublasLtCreate(&handle), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, m, k, m), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, k, n, k), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, m), CUBLAS_STATUS_SUCCESS);
  const std::int64_t strides[3] = {m * k, k * n, m * n};
  cublasLtMatrixLayout_t layouts[3] = {la, lb, ld};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batches, sizeof(batches)),
              CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &strides[i],
                                               sizeof(strides[i])),
              CUBLAS_STATUS_SUCCESS);
  }
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasLtMatmul(handle, desc, &alpha, a.data(), la, b.data(), lb, &beta, d.data(), ld, d.data(), ld, nullptr,
                           nullptr, 0, nullptr),
            CUBLAS_STATUS_SUCCESS);
  for (int t = 0; t < batches; ++t) {
    std::vector<float> ab(a.begin() + t * m * k, a.begin() + (t + 1) * m * k);
    std::vector<float> bb(b.begin() + t * k * n, b.begin() + (t + 1) * k * n);
    std::vector<float> expected(m * n, 0.0f);
    naive_gemm(false, false, m, n, k, 1.0f, ab, m, bb, k, 0.0f, expected, m);
    for (int i = 0; i < m * n; ++i) EXPECT_EQ(d[t * m * n + i], expected[i]) << "batch " << t << " element " << i;
  }
  for (cublasLtMatrixLayout_t l : layouts) cublasLtMatrixLayoutDestroy(l);
  cublasLtMatmulDescDestroy(desc);
  cublasLtDestroy(handle);
}

TEST(EmuStandIns, NcclAllReduceAndBroadcastAmongThreads) {
  ncclUniqueId id;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  const int ranks = 3;
  std::vector<std::vector<float>> data(ranks), bcast(ranks);
  std::vector<ncclResult_t> results(ranks * 3, ncclInternalError);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      ncclComm_t comm;
      results[r * 3] = ncclCommInitRank(&comm, ranks, id, r);
      data[r].assign(1000, static_cast<float>(r + 1));
      results[r * 3 + 1] = ncclAllReduce(data[r].data(), data[r].data(), 1000, ncclFloat, ncclSum, comm, nullptr);
      bcast[r].assign(10, static_cast<float>(10 * r));
      results[r * 3 + 2] = ncclBroadcast(bcast[r].data(), bcast[r].data(), 10, ncclFloat, 2, comm, nullptr);
      ncclCommDestroy(comm);
    });
  for (auto& t : threads) t.join();
  for (ncclResult_t result : results) EXPECT_EQ(result, ncclSuccess);
  for (int r = 0; r < ranks; ++r) {
    EXPECT_EQ(data[r][0], 6.0f);
    EXPECT_EQ(data[r][999], 6.0f);
    EXPECT_EQ(bcast[r][5], 20.0f);
  }
}

TEST(EmuStandIns, NcclOneThreadDrivesAllRanksInAGroup) {
  const int ranks = 2;
  ncclComm_t comms[ranks];
  ASSERT_EQ(ncclCommInitAll(comms, ranks, nullptr), ncclSuccess);
  std::vector<__nv_bfloat16> a(8, __nv_bfloat16(1.5f)), b(8, __nv_bfloat16(-0.25f)), out_a(8), out_b(8);
  ASSERT_EQ(ncclGroupStart(), ncclSuccess);
  EXPECT_EQ(ncclAllReduce(a.data(), out_a.data(), 8, ncclBfloat16, ncclAvg, comms[0], nullptr), ncclSuccess);
  EXPECT_EQ(ncclAllReduce(b.data(), out_b.data(), 8, ncclBfloat16, ncclAvg, comms[1], nullptr), ncclSuccess);
  ASSERT_EQ(ncclGroupEnd(), ncclSuccess);
  EXPECT_EQ(static_cast<float>(out_a[3]), 0.625f);
  EXPECT_EQ(static_cast<float>(out_b[7]), 0.625f);
  // The ranks' second calls disagree on the count: reported to both.
  ASSERT_EQ(ncclGroupStart(), ncclSuccess);
  ncclAllReduce(a.data(), out_a.data(), 8, ncclBfloat16, ncclSum, comms[0], nullptr);
  ncclAllReduce(b.data(), out_b.data(), 4, ncclBfloat16, ncclSum, comms[1], nullptr);
  EXPECT_EQ(ncclGroupEnd(), ncclInvalidUsage);
  for (ncclComm_t comm : comms) ncclCommDestroy(comm);
}

}  // namespace
