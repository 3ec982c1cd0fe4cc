// bench_gpu_attention.cpp — the speed of the CUDA attention kernels on a real GPU:
// slm::cuda::attention_forward_train (kernels/cuda/attention.h) and attention_backward
// (attention_backward.h), bf16, causal, timed with CUDA events on LLM-shaped inputs (T = 4096
// tokens in one row, H = 32 query heads, G = 8 kv heads, head dims 64, 128 and 256, and a row
// packed with several documents), printed as milliseconds and TFLOP/s. A program that prints,
// never a test; tools/gpu_check.sh runs it.
//
// Usage: bench_gpu_attention [--iters N] [T H G E]   (T H G E: one shape, one document)
// Without a visible CUDA device it says so and exits with status 2.
//
// Does not hold: correctness checks (tests/emu/ops/test_attention*.cpp), the CPU attention.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_backward.h"
#include "kernels/cuda/check.h"  // SLM_CUDA_CHECK

namespace {

struct Shape {
  int t, h, g, e;
  std::vector<int> docs;  // document lengths, summing to t
};

// Device memory freed on scope exit.
class Buffer {
 public:
  explicit Buffer(std::size_t bytes) { SLM_CUDA_CHECK(cudaMalloc(&p_, bytes)); }
  ~Buffer() { cudaFree(p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T = void>
  T* get() const { return static_cast<T*>(p_); }

 private:
  void* p_ = nullptr;
};

// n bf16 values uniform in [-1, 1) (a splitmix64 stream), copied to the device.
void fill_bf16(void* device, std::size_t n, std::uint64_t seed) {
  std::vector<std::uint16_t> host(n);
  std::uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& v : host) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float f = static_cast<float>(z >> 40) / static_cast<float>(1 << 23) - 1.0f;
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    v = static_cast<std::uint16_t>(u >> 16);  // truncation is fine for benchmark data
  }
  SLM_CUDA_CHECK(cudaMemcpy(device, host.data(), n * 2, cudaMemcpyHostToDevice));
}

// The causal forward's FLOPs: 4 * sum_d(L_d^2) / 2 * H * E (QK^T and PV, 2 FLOPs per
// multiply-add, half the square visible); L_d = T for one document.
double forward_flops(const Shape& s) {
  double squares = 0;
  for (const int len : s.docs) squares += static_cast<double>(len) * len;
  return 4.0 * squares / 2.0 * s.h * s.e;
}

// Milliseconds per call of `run`, averaged over `iters` calls after 3 warm-up calls.
template <class Run>
float time_ms(int iters, Run run) {
  for (int i = 0; i < 3; ++i) run();
  cudaEvent_t start, stop;
  SLM_CUDA_CHECK(cudaEventCreate(&start));
  SLM_CUDA_CHECK(cudaEventCreate(&stop));
  SLM_CUDA_CHECK(cudaEventRecord(start, nullptr));
  for (int i = 0; i < iters; ++i) run();
  SLM_CUDA_CHECK(cudaEventRecord(stop, nullptr));
  SLM_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  SLM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / static_cast<float>(iters);
}

void bench(const Shape& s, int iters) {
  const std::size_t nq = static_cast<std::size_t>(s.t) * s.h * s.e, nkv = static_cast<std::size_t>(s.t) * s.g * s.e,
                    rows = static_cast<std::size_t>(s.t) * s.h;
  Buffer q(nq * 2), k(nkv * 2), v(nkv * 2), out(nq * 2), dout(nq * 2), lse(rows * 4), delta(rows * 4),
      dq(nq * 4), dk(nkv * 4), dv(nkv * 4), cu(sizeof(std::int32_t) * (s.docs.size() + 1));
  fill_bf16(q.get(), nq, 1);
  fill_bf16(k.get(), nkv, 2);
  fill_bf16(v.get(), nkv, 3);
  fill_bf16(dout.get(), nq, 4);
  std::vector<std::int32_t> cu_seqlens{0};
  int max_doc = 0;
  for (const int len : s.docs) {
    cu_seqlens.push_back(cu_seqlens.back() + len);
    max_doc = std::max(max_doc, len);
  }
  SLM_CUDA_CHECK(cudaMemcpy(cu.get(), cu_seqlens.data(), cu_seqlens.size() * 4, cudaMemcpyHostToDevice));
  const bool packed = s.docs.size() > 1;

  slm::cuda::AttentionParams f;
  f.q = q.get();
  f.k = k.get();
  f.v = v.get();
  f.out_half = out.get();  // what training keeps (the o_proj GEMM reads it)
  f.lse = lse.get<float>();
  f.cu_seqlens = packed ? cu.get<std::int32_t>() : nullptr;
  f.t = s.t, f.h = s.h, f.g = s.g, f.e = s.e;
  f.n_docs = static_cast<int>(s.docs.size());
  f.max_doc_len = max_doc;
  f.scale = 1.0f / std::sqrt(static_cast<float>(s.e));
  const float forward_ms =
      time_ms(iters, [&] { slm::cuda::attention_forward_train(f, slm::cuda::AttentionInput::bf16, nullptr); });

  slm::cuda::AttentionBackwardParams b;
  b.q = q.get();
  b.k = k.get();
  b.v = v.get();
  b.out = out.get();
  b.dout = dout.get();
  b.lse = lse.get<float>();
  b.delta = delta.get<float>();
  b.dq = dq.get<float>();
  b.dk = dk.get<float>();
  b.dv = dv.get<float>();
  b.cu_seqlens = f.cu_seqlens;
  b.t = s.t, b.h = s.h, b.g = s.g, b.e = s.e;
  b.n_docs = f.n_docs;
  b.max_doc_len = max_doc;
  b.scale = f.scale;
  const float backward_ms =
      time_ms(iters, [&] { slm::cuda::attention_backward(b, slm::cuda::AttentionInput::bf16, nullptr); });
  SLM_CUDA_CHECK(cudaDeviceSynchronize());

  const double fwd = forward_flops(s), bwd = 2.5 * fwd;
  std::string docs = std::to_string(s.docs.size());
  if (packed) {
    docs += " (";
    for (std::size_t i = 0; i < s.docs.size(); ++i) docs += (i ? "+" : "") + std::to_string(s.docs[i]);
    docs += ")";
  }
  std::printf("%6d  %-28s %3d %3d %4d  %9.3f %9.1f  %9.3f %9.1f\n", s.t, docs.c_str(), s.h, s.g, s.e, forward_ms,
              fwd / (forward_ms * 1e-3) / 1e12, backward_ms, bwd / (backward_ms * 1e-3) / 1e12);
  std::fflush(stdout);
}

// 0 when a usable device is visible; otherwise prints why and returns the exit status.
int check_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    std::fprintf(stderr,
                 "bench_gpu_attention: no CUDA device visible (cudaGetDeviceCount: %s); run it on a machine with "
                 "an NVIDIA GPU of compute capability 8.0 or newer (tools/gpu_check.sh)\n",
                 status != cudaSuccess ? cudaGetErrorName(status) : "0 devices");
    return 2;
  }
  int device = 0;
  cudaDeviceProp prop{};
  SLM_CUDA_CHECK(cudaGetDevice(&device));
  SLM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  if (prop.major < 8) {
    std::fprintf(stderr, "bench_gpu_attention: %s is sm_%d%d; the attention kernels need sm_80 or newer\n", prop.name,
                 prop.major, prop.minor);
    return 2;
  }
  std::printf("bench_gpu_attention: device %d, %s (sm_%d%d, %d SMs)\n", device, prop.name, prop.major, prop.minor,
              prop.multiProcessorCount);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 20;
  std::vector<int> dims;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
      iters = std::atoi(argv[++i]);
    else
      dims.push_back(std::atoi(argv[i]));
  }
  if (iters < 1 || !(dims.empty() || dims.size() == 4)) {
    std::fprintf(stderr, "usage: bench_gpu_attention [--iters N] [T H G E]\n");
    return 1;
  }
  try {
    if (const int status = check_device(); status != 0) return status;
    std::vector<Shape> shapes;
    if (dims.size() == 4) {
      shapes.push_back({dims[0], dims[1], dims[2], dims[3], {dims[0]}});
    } else {
      for (const int e : {64, 128, 256}) shapes.push_back({4096, 32, 8, e, {4096}});
      shapes.push_back({4096, 32, 8, 128, {1536, 1024, 768, 512, 256}});  // a packed row
    }
    std::printf("bf16 inputs, causal, no window; mean of %d timed calls after 3 warm-up calls (CUDA events)\n", iters);
    std::printf("FLOPs: forward = 4 * sum_d(L_d^2) / 2 * H * E over the documents d of the row (4 * T^2 / 2 * H * E "
                "for one document: QK^T and PV, causal half); backward = 2.5 * forward\n");
    std::printf("%6s  %-28s %3s %3s %4s  %9s %9s  %9s %9s\n", "T", "docs", "H", "G", "E", "fwd ms", "TFLOP/s",
                "bwd ms", "TFLOP/s");
    for (const Shape& s : shapes) bench(s, iters);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_gpu_attention: %s\n", error.what());
    return 1;
  }
  return 0;
}
