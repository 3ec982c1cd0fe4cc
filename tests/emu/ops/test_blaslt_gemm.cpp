// test_blaslt_gemm.cpp — the cuBLASLt frozen-weight GEMMs (kernels/cuda/blaslt_gemm.h) against a
// float64 product of the bf16 inputs: nt (`x W^T`) and nn (`dy W`) on small and odd shapes, beta
// 0 (out prefilled with NaN, which must not leak) and beta 1 (accumulation), operands one element
// past their allocation's alignment, empty shapes, guard regions after every output, and the
// descriptor cache (a repeated shape is one miss).
//
// Device-portable: operands live in cudaMalloc memory and move by cudaMemcpy, and nothing here
// uses the harness's own API, so this file also builds against the real CUDA runtime into
// test_cuda_ops_device (tests/emu/CMakeLists.txt). Under the harness cuBLASLt is the stand-in
// (kernels/emu/cublaslt.h), so this checks our row-major mapping, the cache and the edge cases;
// on a GPU it checks cuBLASLt as well.
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/blaslt_gemm.h"
#include "train/core/error.h"

namespace {

using slm::cuda::BlasLtGemm;

constexpr std::size_t k_workspace = 4u << 20;
constexpr std::size_t k_guard = 64;                // elements after every output
constexpr float k_guard_value = -1234.5f;
constexpr std::uint16_t k_input_guard = 0x7fc1;    // a bf16 NaN after every input

// bf16 bits of f, rounded to nearest even (f finite).
std::uint16_t to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}
double from_bf16(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<std::uint16_t> random_bf16(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = to_bf16(normal(rng));
  return v;
}

// Device memory for `offset` unused elements, n payload elements and k_guard guard elements.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer(std::size_t n, std::size_t offset = 0) : n_(n), offset_(offset) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&base_), (offset + n + k_guard) * sizeof(T)), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(base_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return base_ + offset_; }
  // Writes the payload and sets the guard elements to `guard`.
  void upload(const std::vector<T>& payload, T guard) {
    std::vector<T> all(payload);
    all.resize(n_ + k_guard, guard);
    EXPECT_EQ(cudaMemcpy(get(), all.data(), all.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  // Payload and guard elements.
  std::vector<T> download() const {
    std::vector<T> all(n_ + k_guard);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(all.data(), get(), all.size() * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return all;
  }

 private:
  T* base_ = nullptr;
  std::size_t n_, offset_;
};

const __nv_bfloat16* bf16(const DeviceBuffer<std::uint16_t>& b) {
  return reinterpret_cast<const __nv_bfloat16*>(b.get());
}

enum class Kind { nt, nn };

struct Case {
  Kind kind;
  int m, n, k;  // W is [n, k]; nt: x [m, k] -> out [m, n]; nn: dy [m, n] -> out [m, k]
  float beta;
  std::size_t offset = 0;  // elements each operand starts past its allocation's (256-byte) alignment
};

std::string describe(const Case& c) {
  return std::string(c.kind == Kind::nt ? "nt" : "nn") + " M " + std::to_string(c.m) + " N " + std::to_string(c.n) +
         " K " + std::to_string(c.k) + " beta " + std::to_string(c.beta) + " offset " + std::to_string(c.offset);
}

// Runs one case on `gemm` and checks every output element against float64 and the guards.
void check(BlasLtGemm& gemm, const Case& c, unsigned seed) {
  const bool nt = c.kind == Kind::nt;
  const std::size_t m = c.m, n = c.n, k = c.k;
  const std::size_t in_cols = nt ? k : n, out_cols = nt ? n : k, depth = nt ? k : n;
  const std::vector<std::uint16_t> act = random_bf16(m * in_cols, seed), w = random_bf16(n * k, seed + 1);
  std::vector<float> before(m * out_cols, std::numeric_limits<float>::quiet_NaN());  // beta 0 must not read it
  if (c.beta != 0.0f) {
    std::mt19937 rng(seed + 2);
    std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
    for (float& v : before) v = uniform(rng);
  }
  DeviceBuffer<std::uint16_t> d_act(act.size(), c.offset), d_w(w.size(), c.offset);
  DeviceBuffer<float> d_out(before.size(), c.offset);
  d_act.upload(act, k_input_guard);
  d_w.upload(w, k_input_guard);
  d_out.upload(before, k_guard_value);
  if (nt)
    gemm.nt(d_out.get(), bf16(d_act), bf16(d_w), c.m, c.n, c.k, c.beta, nullptr);
  else
    gemm.nn(d_out.get(), bf16(d_act), bf16(d_w), c.m, c.n, c.k, c.beta, nullptr);
  const std::vector<float> got = d_out.download();

  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < out_cols; ++j) {
      double want = 0, scale = 0;
      for (std::size_t p = 0; p < depth; ++p) {
        // nt: x[i, p] w[j, p]; nn: dy[i, p] w[p, j].
        const double term = from_bf16(act[i * in_cols + p]) * from_bf16(nt ? w[j * k + p] : w[p * k + j]);
        want += term;
        scale += std::fabs(term);
      }
      if (c.beta != 0.0f) {
        want += static_cast<double>(c.beta) * before[i * out_cols + j];
        scale += std::fabs(static_cast<double>(c.beta) * before[i * out_cols + j]);
      }
      const float g = got[i * out_cols + j];
      // fp32 accumulation of exact bf16 products: well within 1e-5 of the sum of magnitudes.
      ASSERT_TRUE(std::isfinite(g)) << describe(c) << " at (" << i << ", " << j << ")";
      ASSERT_LE(std::fabs(g - want), 1e-5 * scale + 1e-30) << describe(c) << " at (" << i << ", " << j << ")";
    }
  for (std::size_t i = m * out_cols; i < got.size(); ++i)
    ASSERT_EQ(got[i], k_guard_value) << describe(c) << ": wrote guard element " << i - m * out_cols;
}

const int k_sizes[] = {1, 5, 7, 13, 37, 64};

TEST(CudaOpsBlasLt, NtMatchesFloat64OnSmallAndOddShapes) {
  BlasLtGemm gemm(k_workspace);
  unsigned seed = 1;
  for (const int m : k_sizes)
    for (const int n : k_sizes)
      for (const int k : k_sizes)
        for (const float beta : {0.0f, 1.0f}) check(gemm, {Kind::nt, m, n, k, beta}, seed += 3);
}

TEST(CudaOpsBlasLt, NnMatchesFloat64OnSmallAndOddShapes) {
  BlasLtGemm gemm(k_workspace);
  unsigned seed = 1000;
  for (const int m : k_sizes)
    for (const int n : k_sizes)
      for (const int k : k_sizes)
        for (const float beta : {0.0f, 1.0f}) check(gemm, {Kind::nn, m, n, k, beta}, seed += 3);
}

// Shapes of a real layer (a 576-wide model, 1536-wide MLP) on a few tokens, and no workspace.
TEST(CudaOpsBlasLt, LayerShapesWithAndWithoutWorkspace) {
  for (const std::size_t workspace : {k_workspace, std::size_t{0}}) {
    BlasLtGemm gemm(workspace);
    EXPECT_EQ(gemm.workspace_bytes(), workspace);
    check(gemm, {Kind::nt, 33, 1536, 576, 0.0f}, 7);
    check(gemm, {Kind::nn, 33, 1536, 576, 1.0f}, 8);
    check(gemm, {Kind::nt, 16, 192, 576, 1.0f}, 9);
  }
}

// Operands 2 bytes (bf16) and 4 bytes (fp32) past 256-byte alignment, and a beta other than 0 and 1.
TEST(CudaOpsBlasLt, UnalignedOperandsAndOtherBetas) {
  BlasLtGemm gemm(k_workspace);
  for (const Kind kind : {Kind::nt, Kind::nn})
    for (const std::size_t offset : {std::size_t{1}, std::size_t{3}, std::size_t{8}}) {
      check(gemm, {kind, 13, 37, 64, 0.0f, offset}, 20 + static_cast<unsigned>(offset));
      check(gemm, {kind, 7, 64, 5, 1.0f, offset}, 30 + static_cast<unsigned>(offset));
      check(gemm, {kind, 5, 13, 7, 0.5f, offset}, 40 + static_cast<unsigned>(offset));
    }
}

TEST(CudaOpsBlasLt, RepeatedShapeIsOneCacheMiss) {
  BlasLtGemm gemm(k_workspace);
  EXPECT_EQ(gemm.cache_misses(), 0);
  check(gemm, {Kind::nt, 13, 37, 64, 0.0f}, 1);
  EXPECT_EQ(gemm.cache_misses(), 1);
  check(gemm, {Kind::nt, 13, 37, 64, 0.0f}, 2);  // same shape, new buffers of the same alignment
  check(gemm, {Kind::nt, 13, 37, 64, 1.0f}, 3);  // beta is an argument, not part of the plan
  EXPECT_EQ(gemm.cache_misses(), 1);
  check(gemm, {Kind::nn, 13, 37, 64, 0.0f}, 4);  // the other kind
  EXPECT_EQ(gemm.cache_misses(), 2);
  check(gemm, {Kind::nt, 13, 37, 63, 0.0f}, 5);  // another shape
  EXPECT_EQ(gemm.cache_misses(), 3);
  check(gemm, {Kind::nt, 13, 37, 64, 0.0f, 1}, 6);  // less aligned operands: their own algorithm
  EXPECT_EQ(gemm.cache_misses(), 4);
  for (unsigned i = 0; i < 3; ++i) {
    check(gemm, {Kind::nt, 13, 37, 64, 0.0f}, 10 + i);
    check(gemm, {Kind::nn, 13, 37, 64, 1.0f}, 20 + i);
    check(gemm, {Kind::nt, 13, 37, 64, 1.0f, 1}, 30 + i);
  }
  EXPECT_EQ(gemm.cache_misses(), 4);
}

// M or the output width 0 writes nothing; an empty contraction gives beta * out (beta 0 or 1).
TEST(CudaOpsBlasLt, EmptyShapes) {
  BlasLtGemm gemm(k_workspace);
  DeviceBuffer<std::uint16_t> in(64), w(64);
  in.upload(std::vector<std::uint16_t>(64, to_bf16(1.0f)), k_input_guard);
  w.upload(std::vector<std::uint16_t>(64, to_bf16(1.0f)), k_input_guard);
  DeviceBuffer<float> out(8);
  const std::vector<float> before = {1, 2, 3, 4, 5, 6, 7, 8};
  const auto payload = [&] {
    std::vector<float> all = out.download();
    for (std::size_t i = 8; i < all.size(); ++i) EXPECT_EQ(all[i], k_guard_value) << "guard element " << i - 8;
    all.resize(8);
    return all;
  };
  out.upload(before, k_guard_value);
  gemm.nt(out.get(), bf16(in), bf16(w), 0, 8, 4, 0.0f, nullptr);  // M 0
  gemm.nt(out.get(), bf16(in), bf16(w), 1, 0, 4, 0.0f, nullptr);  // N 0: out [1, 0]
  gemm.nn(out.get(), bf16(in), bf16(w), 1, 4, 0, 0.0f, nullptr);  // K 0: out [1, 0]
  EXPECT_EQ(payload(), before);
  gemm.nt(out.get(), bf16(in), bf16(w), 2, 4, 0, 1.0f, nullptr);  // nt with K 0, beta 1: unchanged
  gemm.nn(out.get(), bf16(in), bf16(w), 2, 0, 4, 1.0f, nullptr);  // nn with N 0, beta 1: unchanged
  EXPECT_EQ(payload(), before);
  gemm.nt(out.get(), bf16(in), bf16(w), 2, 4, 0, 0.0f, nullptr);  // beta 0: zeros
  EXPECT_EQ(payload(), std::vector<float>(8, 0.0f));
  out.upload(before, k_guard_value);
  gemm.nn(out.get(), bf16(in), bf16(w), 2, 0, 4, 0.0f, nullptr);
  EXPECT_EQ(payload(), std::vector<float>(8, 0.0f));
  EXPECT_THROW(gemm.nt(out.get(), bf16(in), bf16(w), 2, 4, 0, 0.5f, nullptr), slm::Error);
  EXPECT_EQ(gemm.cache_misses(), 0);
}

TEST(CudaOpsBlasLt, BadArgumentsThrow) {
  BlasLtGemm gemm(k_workspace);
  DeviceBuffer<std::uint16_t> in(64, 0), w(64, 0);
  DeviceBuffer<float> out(64, 0);
  EXPECT_THROW(gemm.nt(out.get(), bf16(in), bf16(w), -1, 4, 4, 0.0f, nullptr), slm::Error);
  EXPECT_THROW(gemm.nn(out.get(), nullptr, bf16(w), 4, 4, 4, 0.0f, nullptr), slm::Error);
  const auto* odd = reinterpret_cast<const __nv_bfloat16*>(reinterpret_cast<const char*>(in.get()) + 1);
  EXPECT_THROW(gemm.nt(out.get(), odd, bf16(w), 4, 4, 4, 0.0f, nullptr), slm::Error);
  float* out_odd = reinterpret_cast<float*>(reinterpret_cast<char*>(out.get()) + 2);
  EXPECT_THROW(gemm.nt(out_odd, bf16(in), bf16(w), 4, 4, 4, 0.0f, nullptr), slm::Error);
  EXPECT_EQ(gemm.cache_misses(), 0);
}

}  // namespace
