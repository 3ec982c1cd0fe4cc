// test_cross_entropy.cpp — the CUDA chunked linear cross-entropy (kernels/cuda/cross_entropy.h)
// under the emulation harness against its CPU twin (kernels/cpu/cross_entropy.h) and a float64
// reference: loss sum, dx and the row count on small and odd shapes (V 37, 1000, 4099; D 24, 64;
// T 1, 7, 13; chunks that do not divide T), both tile shapes, split and unsplit dx products,
// ignored and invalid targets, guard values in dx, identical bits under every schedule, and a
// 262144-word vocabulary; the bf16 variant against the CPU twin run on the same bf16-rounded
// inputs (the CPU at the same precision), both measured against float64.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device, without the
// schedule comparisons (harness only).
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cross_entropy.h"
#include "kernels/cuda/cross_entropy.h"
#include "tests/emu/ops/device_buffer.h"
#if SLM_EMU_TESTS
#include "tests/emu/emu_test_util.h"
#endif

namespace {

using slm::cuda::CrossEntropyTile;
using slm::cuda::GemmTile;
using slm::ops_test::DeviceArray;

struct Case {
  std::int64_t t, d, v, chunk;
  CrossEntropyTile tile;
};
// small tiles: V 37 takes one slice of the dx product, 1000 and 4099 several.
const Case k_cases[] = {
    {1, 24, 37, 4, CrossEntropyTile::small},     {13, 64, 1000, 5, CrossEntropyTile::small},
    {13, 24, 4099, 4, CrossEntropyTile::small},  {7, 64, 37, 100, CrossEntropyTile::small},
    {13, 64, 1000, 13, CrossEntropyTile::large}, {13, 24, 4099, 6, CrossEntropyTile::large},
};

struct Inputs {
  std::vector<float> x, w;
  std::vector<std::int32_t> targets;
};

// Logits of a few units (x, w uniform in [-1, 1) scaled by 3 / sqrt(D)); every third target ignored.
Inputs make_inputs(const Case& c, unsigned seed) {
  std::mt19937 rng(seed);
  const float scale = 3.0f / std::sqrt(static_cast<float>(c.d));
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Inputs in;
  in.x.resize(static_cast<std::size_t>(c.t * c.d));
  in.w.resize(static_cast<std::size_t>(c.v * c.d));
  for (float& e : in.x) e = uniform(rng);
  for (float& e : in.w) e = uniform(rng) * scale;
  std::uniform_int_distribution<std::int32_t> id(0, static_cast<std::int32_t>(c.v - 1));
  in.targets.resize(static_cast<std::size_t>(c.t));
  for (std::int64_t i = 0; i < c.t; ++i) in.targets[i] = (i % 3 == 1) ? slm::cpu::k_ignore_index : id(rng);
  return in;
}

struct Result {
  double loss = -1;
  std::int64_t counted = -1, invalid_at = -2;
  std::vector<float> dx;
};

// The device outputs of one run, starting as garbage: dx 123 (every element must be written, and
// the guard elements after it must not be), the scalars impossible values.
struct DeviceOutputs {
  explicit DeviceOutputs(const Case& c) : dx(static_cast<std::size_t>(c.t * c.d), 123.0f) {}
  Result download() const {
    EXPECT_TRUE(dx.guards_intact()) << "wrote past dx";
    Result r;
    r.loss = loss.at(0);
    r.counted = counted.at(0);
    r.invalid_at = invalid_at.at(0);
    r.dx = dx.download();
    return r;
  }
  DeviceArray<double> loss{1, -1.0};
  DeviceArray<std::int64_t> counted{1, -1}, invalid_at{1, -2};
  DeviceArray<float> dx;
};

Result run_gpu(const Case& c, const Inputs& in, float grad_scale) {
  DeviceOutputs out(c);
  const DeviceArray<float> x(in.x, -5.0f), w(in.w, -5.0f);
  const DeviceArray<std::int32_t> targets(in.targets, -5);
  slm::cuda::CrossEntropyParams p;
  p.loss_sum = out.loss.get();
  p.counted = out.counted.get();
  p.invalid_at = out.invalid_at.get();
  p.dx = out.dx.get();
  p.x = x.get();
  p.w = w.get();
  p.targets = targets.get();
  p.t = c.t, p.d = c.d, p.v = c.v, p.chunk = c.chunk;
  p.grad_scale = grad_scale;
  p.tile = c.tile;
  DeviceArray<double> workspace((slm::cuda::cross_entropy_workspace_bytes(p) + 7) / 8, -7.0);
  p.workspace = workspace.get();
  slm::cuda::cross_entropy_forward_backward(p, nullptr);
  return out.download();
}

Result run_cpu(const Case& c, const Inputs& in, float grad_scale) {
  Result r;
  r.dx.assign(static_cast<std::size_t>(c.t * c.d), 123.0f);
  std::vector<float> scratch(static_cast<std::size_t>(c.chunk * (c.v + c.d + 1)));
  r.counted = slm::cpu::cross_entropy_forward_backward(&r.loss, r.dx.data(), in.x.data(), in.w.data(),
                                                       in.targets.data(), c.t, c.d, c.v, c.chunk, grad_scale,
                                                       scratch.data());
  r.invalid_at = -1;
  return r;
}

// The float64 reference: loss sum and dx.
Result run_f64(const Case& c, const Inputs& in, float grad_scale) {
  Result r;
  r.dx.assign(static_cast<std::size_t>(c.t * c.d), 0.0f);
  r.loss = 0;
  r.counted = 0;
  std::vector<double> z(static_cast<std::size_t>(c.v)), dx(static_cast<std::size_t>(c.d));
  for (std::int64_t i = 0; i < c.t; ++i) {
    const std::int32_t target = in.targets[i];
    if (target == slm::cpu::k_ignore_index) continue;
    double top = -INFINITY;
    for (std::int64_t j = 0; j < c.v; ++j) {
      double dot = 0;
      for (std::int64_t k = 0; k < c.d; ++k) dot += static_cast<double>(in.x[i * c.d + k]) * in.w[j * c.d + k];
      z[j] = dot;
      top = std::max(top, dot);
    }
    double sum = 0;
    for (std::int64_t j = 0; j < c.v; ++j) sum += std::exp(z[j] - top);
    r.loss += top + std::log(sum) - z[target];
    ++r.counted;
    std::fill(dx.begin(), dx.end(), 0.0);
    for (std::int64_t j = 0; j < c.v; ++j) {
      const double g = grad_scale * (std::exp(z[j] - top) / sum - (j == target ? 1.0 : 0.0));
      for (std::int64_t k = 0; k < c.d; ++k) dx[k] += g * in.w[j * c.d + k];
    }
    for (std::int64_t k = 0; k < c.d; ++k) r.dx[i * c.d + k] = static_cast<float>(dx[k]);
  }
  r.invalid_at = -1;
  return r;
}

// Largest |got - want| / (|want| + mean |want| of the row): relative, with the row's scale as the
// floor where an element cancels to near zero. Rows of zeros must be exactly zero.
double max_relative_error(const std::vector<float>& got, const std::vector<float>& want, std::int64_t d) {
  double worst = 0;
  for (std::size_t row = 0; row * d < want.size(); ++row) {
    double mean = 0;
    for (std::int64_t j = 0; j < d; ++j) mean += std::fabs(want[row * d + j]);
    mean /= static_cast<double>(d);
    for (std::int64_t j = 0; j < d; ++j) {
      const std::size_t i = row * d + j;
      if (!std::isfinite(got[i])) return INFINITY;
      if (mean == 0) {
        if (got[i] != 0.0f) return INFINITY;
        continue;
      }
      worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]) / (std::fabs(want[i]) + mean));
    }
  }
  return worst;
}

constexpr double k_tolerance = 1e-5;

void report(const char* what, double error) {
  if (std::getenv("SLM_OPS_VERBOSE")) std::printf("%s: max relative error %.3g\n", what, error);
}

TEST(CudaOpsCrossEntropy, MatchesTheCpuTwin) {
  double worst_loss = 0, worst_dx = 0, gpu_f64_loss = 0, gpu_f64_dx = 0, cpu_f64_loss = 0, cpu_f64_dx = 0;
  unsigned seed = 1;
  for (const Case& c : k_cases) {
    const Inputs in = make_inputs(c, seed++);
    const float grad_scale = 0.25f;
    const Result want = run_cpu(c, in, grad_scale), got = run_gpu(c, in, grad_scale), exact = run_f64(c, in, grad_scale);
    const std::string where = "T " + std::to_string(c.t) + " D " + std::to_string(c.d) + " V " + std::to_string(c.v) +
                              " chunk " + std::to_string(c.chunk) + (c.tile == CrossEntropyTile::small ? " small" : " large");
    EXPECT_EQ(got.counted, want.counted) << where;
    EXPECT_EQ(got.invalid_at, -1) << where;
    ASSERT_TRUE(std::isfinite(got.loss)) << where;
    const double loss_error = std::fabs(got.loss - want.loss) / std::fabs(want.loss);
    const double dx_error = max_relative_error(got.dx, want.dx, c.d);
    EXPECT_LT(loss_error, k_tolerance) << where;
    EXPECT_LT(dx_error, k_tolerance) << where;
    worst_loss = std::max(worst_loss, loss_error);
    worst_dx = std::max(worst_dx, dx_error);
    gpu_f64_loss = std::max(gpu_f64_loss, std::fabs(got.loss - exact.loss) / std::fabs(exact.loss));
    cpu_f64_loss = std::max(cpu_f64_loss, std::fabs(want.loss - exact.loss) / std::fabs(exact.loss));
    gpu_f64_dx = std::max(gpu_f64_dx, max_relative_error(got.dx, exact.dx, c.d));
    cpu_f64_dx = std::max(cpu_f64_dx, max_relative_error(want.dx, exact.dx, c.d));
  }
  report("cross-entropy loss vs the CPU twin", worst_loss);
  report("cross-entropy dx vs the CPU twin", worst_dx);
  report("cross-entropy loss, GPU vs float64", gpu_f64_loss);
  report("cross-entropy loss, CPU vs float64", cpu_f64_loss);
  report("cross-entropy dx, GPU vs float64", gpu_f64_dx);
  report("cross-entropy dx, CPU vs float64", cpu_f64_dx);
}

TEST(CudaOpsCrossEntropy, AllIgnoredAndEmpty) {
  const Case c{5, 24, 37, 2, CrossEntropyTile::small};
  Inputs in = make_inputs(c, 21);
  std::fill(in.targets.begin(), in.targets.end(), slm::cpu::k_ignore_index);
  const Result got = run_gpu(c, in, 1.0f);
  EXPECT_EQ(got.loss, 0.0);
  EXPECT_EQ(got.counted, 0);
  EXPECT_EQ(got.invalid_at, -1);
  for (const float e : got.dx) EXPECT_EQ(e, 0.0f);
  const Result empty = run_gpu({0, 24, 37, 4, CrossEntropyTile::small}, Inputs{}, 1.0f);
  EXPECT_EQ(empty.loss, 0.0);
  EXPECT_EQ(empty.counted, 0);
  EXPECT_EQ(empty.invalid_at, -1);
}

// Targets outside [0, V) are reported (the first position) and count as ignored.
TEST(CudaOpsCrossEntropy, ReportsTheFirstInvalidTarget) {
  const Case c{13, 24, 37, 4, CrossEntropyTile::small};
  Inputs in = make_inputs(c, 22);
  in.targets[5] = 37;
  in.targets[9] = -3;
  const Result got = run_gpu(c, in, 1.0f);
  EXPECT_EQ(got.invalid_at, 5);
  Inputs ignored = in;
  ignored.targets[5] = ignored.targets[9] = slm::cpu::k_ignore_index;
  const Result want = run_cpu(c, ignored, 1.0f);
  EXPECT_EQ(got.counted, want.counted);
  EXPECT_LT(std::fabs(got.loss - want.loss) / want.loss, k_tolerance);
  EXPECT_LT(max_relative_error(got.dx, want.dx, c.d), k_tolerance);
}

#if SLM_EMU_TESTS
TEST(CudaOpsCrossEntropy, IdenticalBitsUnderEverySchedule) {
  using slm::emu::Schedule;
  using slm::emu::testing::ScopedSchedule;
  for (const Case c : {Case{13, 24, 4099, 4, CrossEntropyTile::small}, Case{13, 64, 1000, 13, CrossEntropyTile::large}}) {
    const Inputs in = make_inputs(c, 23);
    Result first;
    for (const auto& [schedule, seed] : {std::pair{Schedule::forward, 1}, std::pair{Schedule::reverse, 1},
                                        std::pair{Schedule::shuffled, 3}}) {
      ScopedSchedule scoped(schedule, static_cast<std::uint64_t>(seed));
      const Result got = run_gpu(c, in, 0.5f);
      if (first.dx.empty()) first = got;
      EXPECT_EQ(std::memcmp(&got.loss, &first.loss, sizeof(double)), 0) << "V " << c.v << " schedule " << static_cast<int>(schedule);
      EXPECT_EQ(std::memcmp(got.dx.data(), first.dx.data(), got.dx.size() * sizeof(float)), 0)
          << "V " << c.v << " schedule " << static_cast<int>(schedule);
    }
  }
}
#endif  // SLM_EMU_TESTS

// Gemma 3's vocabulary size: nothing in the kernels is sized by V.
TEST(CudaOpsCrossEntropy, VocabularyOf262k) {
  const Case c{3, 8, 262144, 2, CrossEntropyTile::small};
  const Inputs in = make_inputs(c, 24);
  const Result want = run_cpu(c, in, 1.0f), got = run_gpu(c, in, 1.0f);
  EXPECT_EQ(got.counted, want.counted);
  EXPECT_LT(std::fabs(got.loss - want.loss) / want.loss, k_tolerance);
  EXPECT_LT(max_relative_error(got.dx, want.dx, c.d), k_tolerance);
}

// x and w rounded to bf16 (kept as floats for the CPU twin and the float64 reference).
Inputs round_to_bf16(const Inputs& in) {
  Inputs r = in;
  for (float& e : r.x) e = slm::bf16_to_fp32(slm::fp32_to_bf16(e));
  for (float& e : r.w) e = slm::bf16_to_fp32(slm::fp32_to_bf16(e));
  return r;
}

Result run_gpu_bf16(const Case& c, const Inputs& rounded, float grad_scale, GemmTile tile) {
  DeviceOutputs out(c);
  std::vector<__nv_bfloat16> w16(rounded.w.size());
  for (std::size_t i = 0; i < w16.size(); ++i) w16[i] = slm::ops_test::to_bf16(rounded.w[i]);
  const DeviceArray<float> x(rounded.x, -5.0f);
  const DeviceArray<__nv_bfloat16> w(w16, slm::ops_test::to_bf16(-5.0f));
  const DeviceArray<std::int32_t> targets(rounded.targets, -5);
  slm::cuda::CrossEntropyBf16Params p;
  p.loss_sum = out.loss.get();
  p.counted = out.counted.get();
  p.invalid_at = out.invalid_at.get();
  p.dx = out.dx.get();
  p.x = x.get();
  p.w = w.get();
  p.targets = targets.get();
  p.t = c.t, p.d = c.d, p.v = c.v, p.chunk = c.chunk;
  p.grad_scale = grad_scale;
  p.tile = tile;
  DeviceArray<double> workspace((slm::cuda::cross_entropy_bf16_workspace_bytes(p) + 7) / 8, -7.0);
  p.workspace = workspace.get();
  slm::cuda::cross_entropy_forward_backward_bf16(p, nullptr);
  return out.download();
}

// bf16 inputs: the CPU at the same precision is the CPU twin on the rounded inputs; the GPU must
// stay within twice its error against float64 (of the rounded inputs), and within the fp32
// tolerance of it (the products accumulate in fp32 and the logits' gradient keeps 24 bits).
TEST(CudaOpsCrossEntropy, Bf16WithinTwiceTheCpuError) {
  struct Bf16Case {
    Case c;
    GemmTile tile;
  };
  const Bf16Case cases[] = {
      {{1, 24, 37, 4, CrossEntropyTile::small}, GemmTile::small},
      {{13, 64, 1000, 5, CrossEntropyTile::small}, GemmTile::small},
      {{13, 24, 4099, 4, CrossEntropyTile::small}, GemmTile::small},
      {{13, 64, 1000, 13, CrossEntropyTile::small}, GemmTile::large},
      {{7, 40, 37, 100, CrossEntropyTile::small}, GemmTile::large},
  };
  double gpu_loss = 0, cpu_loss = 0, gpu_dx = 0, cpu_dx = 0, vs_cpu_loss = 0, vs_cpu_dx = 0;
  unsigned seed = 31;
  for (const auto& [c, tile] : cases) {
    const Inputs rounded = round_to_bf16(make_inputs(c, seed++));
    const float grad_scale = 0.25f;
    const Result got = run_gpu_bf16(c, rounded, grad_scale, tile), want = run_cpu(c, rounded, grad_scale),
                 exact = run_f64(c, rounded, grad_scale);
    const std::string where = "T " + std::to_string(c.t) + " D " + std::to_string(c.d) + " V " + std::to_string(c.v) +
                              " chunk " + std::to_string(c.chunk) + (tile == GemmTile::small ? " small" : " large");
    EXPECT_EQ(got.counted, want.counted) << where;
    EXPECT_EQ(got.invalid_at, -1) << where;
    ASSERT_TRUE(std::isfinite(got.loss)) << where;
    const double loss_error = std::fabs(got.loss - want.loss) / std::fabs(want.loss);
    const double dx_error = max_relative_error(got.dx, want.dx, c.d);
    EXPECT_LT(loss_error, k_tolerance) << where;
    EXPECT_LT(dx_error, k_tolerance) << where;
    vs_cpu_loss = std::max(vs_cpu_loss, loss_error);
    vs_cpu_dx = std::max(vs_cpu_dx, dx_error);
    gpu_loss = std::max(gpu_loss, std::fabs(got.loss - exact.loss) / std::fabs(exact.loss));
    cpu_loss = std::max(cpu_loss, std::fabs(want.loss - exact.loss) / std::fabs(exact.loss));
    gpu_dx = std::max(gpu_dx, max_relative_error(got.dx, exact.dx, c.d));
    cpu_dx = std::max(cpu_dx, max_relative_error(want.dx, exact.dx, c.d));
  }
  EXPECT_LE(gpu_loss, 2 * cpu_loss);
  EXPECT_LE(gpu_dx, 2 * cpu_dx);
  report("bf16 cross-entropy loss vs the CPU twin on bf16 inputs", vs_cpu_loss);
  report("bf16 cross-entropy dx vs the CPU twin on bf16 inputs", vs_cpu_dx);
  report("bf16 cross-entropy loss, GPU vs float64", gpu_loss);
  report("bf16 cross-entropy loss, CPU vs float64", cpu_loss);
  report("bf16 cross-entropy dx, GPU vs float64", gpu_dx);
  report("bf16 cross-entropy dx, CPU vs float64", cpu_dx);
}

#if SLM_EMU_TESTS
TEST(CudaOpsCrossEntropy, Bf16IdenticalBitsUnderEverySchedule) {
  using slm::emu::Schedule;
  using slm::emu::testing::ScopedSchedule;
  const Case c{13, 24, 4099, 4, CrossEntropyTile::small};
  const Inputs rounded = round_to_bf16(make_inputs(c, 41));
  Result first;
  for (const auto& [schedule, seed] : {std::pair{Schedule::forward, 1}, std::pair{Schedule::reverse, 1},
                                      std::pair{Schedule::shuffled, 3}}) {
    ScopedSchedule scoped(schedule, static_cast<std::uint64_t>(seed));
    const Result got = run_gpu_bf16(c, rounded, 0.5f, GemmTile::small);
    if (first.dx.empty()) first = got;
    EXPECT_EQ(std::memcmp(&got.loss, &first.loss, sizeof(double)), 0) << "schedule " << static_cast<int>(schedule);
    EXPECT_EQ(std::memcmp(got.dx.data(), first.dx.data(), got.dx.size() * sizeof(float)), 0)
        << "schedule " << static_cast<int>(schedule);
  }
}
#endif  // SLM_EMU_TESTS

// T past one compaction tile (256 positions): the gathered order and count carry across tiles,
// with ignored rows in runs and scattered, several chunks, and the first invalid target in a later
// tile and another further on (the smallest position is reported).
TEST(CudaOpsCrossEntropy, ManyRowsAcrossCompactionTiles) {
  const Case c{600, 8, 37, 128, CrossEntropyTile::small};
  Inputs in = make_inputs(c, 25);
  std::mt19937 rng(26);
  for (std::int64_t i = 0; i < c.t; ++i)
    if ((i >= 200 && i < 290) || rng() % 2 == 0) in.targets[i] = slm::cpu::k_ignore_index;
  const Result want = run_cpu(c, in, 0.125f), got = run_gpu(c, in, 0.125f);
  EXPECT_EQ(got.counted, want.counted);
  EXPECT_EQ(got.invalid_at, -1);
  EXPECT_LT(std::fabs(got.loss - want.loss) / want.loss, k_tolerance);
  EXPECT_LT(max_relative_error(got.dx, want.dx, c.d), k_tolerance);

  Inputs bad = in;
  bad.targets[517] = 37 + 5;
  bad.targets[300] = -7;
  EXPECT_EQ(run_gpu(c, bad, 0.125f).invalid_at, 300);

  // The bf16 variant multiplies the chunks past the count at full size: they must change nothing.
  const Inputs rounded = round_to_bf16(in);
  const Result want_bf16 = run_cpu(c, rounded, 0.125f), got_bf16 = run_gpu_bf16(c, rounded, 0.125f, GemmTile::small);
  EXPECT_EQ(got_bf16.counted, want_bf16.counted);
  EXPECT_LT(std::fabs(got_bf16.loss - want_bf16.loss) / want_bf16.loss, k_tolerance);
  EXPECT_LT(max_relative_error(got_bf16.dx, want_bf16.dx, c.d), k_tolerance);
}

}  // namespace
