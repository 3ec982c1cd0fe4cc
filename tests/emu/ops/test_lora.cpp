// test_lora.cpp — the fused CUDA LoRA forward and backward (kernels/cuda/lora.h) under the
// emulation harness against their CPU twins (kernels/cpu/lora.h): small and odd shapes (one and
// several row blocks of either height, column chunks with tails, every rank tile 8 to 128),
// without dropout, with a mask buffer and with the in-kernel hash; what accumulates (y, da, db,
// dx) starts from random values, what is overwritten (xa, g) from garbage; guard elements after
// every output;
// the in-kernel hash equals the CPU training step's mask bit for bit; bf16 x and dy; the weight
// gradients split over M with a workspace; identical bits under every schedule. Errors against
// float64 are printed with SLM_OPS_VERBOSE set.
// Device-portable (tests/emu/ops/device_buffer.h): also in test_cuda_ops_device, without the
// schedule comparison (harness only).
// Does not hold: the other ops (tests/emu/ops/test_*.cpp each hold one).
#include <gmock/gmock.h>  // HasSubstr
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/lora.h"
#include "kernels/cuda/lora.h"
#include "kernels/dropout_hash.h"
#include "tests/emu/ops/device_buffer.h"
#if SLM_EMU_TESTS
#include "tests/emu/emu_test_util.h"
#endif

namespace {

using slm::ops_test::DeviceArray;

struct Shape {
  std::int64_t m, k, n, r;
};
// M: 1, 13, 40 (one block of 64 rows), 70 and 130 (several, with tails; 32-row blocks too);
// K and N: 24, 40, 100 and widths with 32-column tails; r: 1, 4, 16 and ranks that take the 32
// to 128 tiles (rank 128 takes 32-row blocks whatever the tile asked for).
const Shape k_shapes[] = {{1, 24, 40, 1},   {13, 40, 24, 4},  {40, 100, 40, 16}, {13, 100, 100, 16},
                          {40, 24, 100, 4}, {70, 40, 24, 8},  {5, 33, 65, 33},   {130, 70, 36, 64},
                          {3, 24, 100, 1},  {40, 40, 40, 13}, {40, 40, 24, 100}, {70, 33, 40, 128}};

enum class Drop { none, buffer, hash };
const char* name_of(Drop d) { return d == Drop::none ? "no dropout" : d == Drop::buffer ? "mask buffer" : "hash mask"; }

constexpr double k_tolerance = 1e-5;
constexpr double k_dropout_p = 0.3;
constexpr float k_guard_value = -12345.0f;

std::vector<float> random_vector(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng);
  return v;
}

// The mask by its definition (kernels/dropout_hash.h): u = (mix(base + i) >> 11) * 2^-53 < p,
// in doubles, where the kernels use the integer form of the same test.
using slm::dropout_mix;
std::vector<float> cpu_step_mask(std::uint64_t base, double p, std::int64_t m, std::int64_t k) {
  std::vector<float> mask(static_cast<std::size_t>(m * k));
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  for (std::int64_t i = 0; i < m * k; ++i) {
    const double u = static_cast<double>(dropout_mix(base + static_cast<std::uint64_t>(i)) >> 11) * 0x1.0p-53;
    mask[static_cast<std::size_t>(i)] = u < p ? 0.0f : keep;
  }
  return mask;
}

// A device output: its values followed by guard elements that must stay untouched.
struct Guarded : DeviceArray<float> {
  Guarded(const std::vector<float>& values) : DeviceArray<float>(values, k_guard_value) {}
  float* data() { return get(); }
  std::vector<float> values() const { return download(); }
};

// Largest |got - want| / max(|want| + mean |want| of its row, cond): relative error, with the
// row's size as the floor where an element cancels, and (when given) the float64 size of the
// summed terms of the element, cond = the same computation on |inputs|, as the floor where a dot
// product cancels (the error of a sum is relative to the sum of |terms|, not to the result).
// NaN or Inf fails.
template <typename G, typename W>
double max_relative_error(const std::vector<G>& got, const std::vector<W>& want, std::int64_t width,
                          const std::vector<double>& cond = {}) {
  double worst = 0;
  for (std::size_t row = 0; row * static_cast<std::size_t>(width) < want.size(); ++row) {
    double mean = 0;
    for (std::int64_t j = 0; j < width; ++j) mean += std::fabs(static_cast<double>(want[row * width + j]));
    mean /= static_cast<double>(width);
    for (std::int64_t j = 0; j < width; ++j) {
      const std::size_t i = row * width + j;
      if (!std::isfinite(static_cast<double>(got[i]))) return INFINITY;
      const double w = static_cast<double>(want[i]);
      const double floor = std::max(std::fabs(w) + mean, cond.empty() ? 0.0 : cond[i]);
      worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - w) / (floor + 1e-30));
    }
  }
  return worst;
}

// Inputs of one case.
struct Case {
  Shape s;
  std::vector<float> x, a, b, y0, dy, da0, db0, dx0, mask;  // mask empty: no dropout
  slm::cuda::LoraDropoutHash hash;
  float scale = 0.75f;
  std::vector<__nv_bfloat16> x16, dy16;  // with bf16 inputs: x and dy, which then hold their rounded values
  Case(Shape shape, Drop drop, unsigned seed) : s(shape) {
    const auto mk = static_cast<std::size_t>(s.m * s.k), mn = static_cast<std::size_t>(s.m * s.n);
    x = random_vector(mk, seed + 1);
    a = random_vector(static_cast<std::size_t>(s.r * s.k), seed + 2);
    b = random_vector(static_cast<std::size_t>(s.n * s.r), seed + 3);
    y0 = random_vector(mn, seed + 4);
    dy = random_vector(mn, seed + 5);
    da0 = random_vector(static_cast<std::size_t>(s.r * s.k), seed + 6);
    db0 = random_vector(static_cast<std::size_t>(s.n * s.r), seed + 7);
    dx0 = random_vector(mk, seed + 8);
    if (drop != Drop::none) {
      const std::uint64_t base = dropout_mix(0x5eedULL + seed);
      mask = cpu_step_mask(base, k_dropout_p, s.m, s.k);
      if (drop == Drop::hash) hash = slm::cuda::lora_dropout_hash(base, k_dropout_p);
    }
  }
  // Gives the kernels x and dy in bf16, and the CPU (and float64) their values rounded to bf16.
  void round_inputs_to_bf16() {
    for (auto [v, v16] : {std::pair{&x, &x16}, std::pair{&dy, &dy16}}) {
      v16->resize(v->size());
      for (std::size_t i = 0; i < v->size(); ++i) {
        (*v16)[i] = slm::ops_test::to_bf16((*v)[i]);
        (*v)[i] = slm::ops_test::to_float((*v16)[i]);
      }
    }
  }
  // The same case on |inputs|: its float64 outputs are the sizes of the summed terms.
  Case absolute() const {
    Case c = *this;
    for (std::vector<float>* v : {&c.x, &c.a, &c.b, &c.y0, &c.dy, &c.da0, &c.db0, &c.dx0})
      for (float& e : *v) e = std::fabs(e);
    return c;
  }
  const float* cpu_mask() const { return mask.empty() ? nullptr : mask.data(); }
  const float* gpu_mask() const { return hash.threshold != 0 ? nullptr : cpu_mask(); }
};

struct Outputs {
  std::vector<float> y, xa, g, da, db, dx;
};

Outputs run_cpu(const Case& c, bool with_dx = true) {
  const Shape s = c.s;
  Outputs o{c.y0,
            std::vector<float>(static_cast<std::size_t>(s.m * s.r)),
            std::vector<float>(static_cast<std::size_t>(s.m * s.r)),
            c.da0,
            c.db0,
            c.dx0};
  std::vector<float> masked_x(static_cast<std::size_t>(s.m * s.k));
  slm::cpu::lora_forward(o.y.data(), c.x.data(), c.a.data(), c.b.data(), c.scale, o.xa.data(), s.m, s.n, s.k, s.r,
                         c.cpu_mask(), masked_x.data());
  slm::cpu::lora_backward(o.da.data(), o.db.data(), with_dx ? o.dx.data() : nullptr, c.dy.data(), c.x.data(),
                          c.a.data(), c.b.data(), o.xa.data(), c.scale, s.m, s.n, s.k, s.r, o.g.data(), c.cpu_mask(),
                          masked_x.data());
  return o;
}

// Runs both kernels (the backward with a workspace to split M when `split`); fails the test if a
// guard element was written.
Outputs run_gpu(const Case& c, bool with_dx = true, bool split = false,
                slm::cuda::LoraRowTile tile = slm::cuda::LoraRowTile::automatic) {
  const Shape s = c.s;
  const auto mr = static_cast<std::size_t>(s.m * s.r);
  Guarded y(c.y0), xa(std::vector<float>(mr, NAN)), g(std::vector<float>(mr, NAN)), da(c.da0), db(c.db0), dx(c.dx0);
  slm::cuda::LoraForwardParams f;
  const bool bf16 = !c.x16.empty();
  const auto input = bf16 ? slm::cuda::LoraInput::bf16 : slm::cuda::LoraInput::f32;
  // The inputs on the device: x and dy in fp32 or bf16, the mask when the kernels read one.
  const __nv_bfloat16 guard16 = slm::ops_test::to_bf16(k_guard_value);
  const DeviceArray<float> x32(bf16 ? std::vector<float>{} : c.x, k_guard_value),
      dy32(bf16 ? std::vector<float>{} : c.dy, k_guard_value), a(c.a, k_guard_value), b(c.b, k_guard_value),
      mask(c.gpu_mask() ? c.mask : std::vector<float>{}, k_guard_value);
  const DeviceArray<__nv_bfloat16> x16(c.x16, guard16), dy16(c.dy16, guard16);
  const void* x = bf16 ? static_cast<const void*>(x16.get()) : x32.get();
  const void* dy = bf16 ? static_cast<const void*>(dy16.get()) : dy32.get();
  const float* gpu_mask = c.gpu_mask() ? mask.get() : nullptr;
  f.row_tile = tile;
  f.y = y.data(), f.x = x, f.input = input, f.a = a.get(), f.b = b.get(), f.xa = xa.data();
  f.m = s.m, f.n = s.n, f.k = s.k, f.r = s.r, f.scale = c.scale, f.mask = gpu_mask, f.hash = c.hash;
  slm::cuda::lora_forward(f, nullptr);
  slm::cuda::LoraBackwardParams bw;
  bw.da = da.data(), bw.db = db.data(), bw.dx = with_dx ? dx.data() : nullptr, bw.g = g.data();
  bw.row_tile = tile;
  bw.dy = dy, bw.x = x, bw.input = input, bw.a = a.get(), bw.b = b.get(), bw.xa = xa.data();
  bw.m = s.m, bw.n = s.n, bw.k = s.k, bw.r = s.r, bw.scale = c.scale, bw.mask = gpu_mask, bw.hash = c.hash;
  const std::int64_t floats = split ? slm::cuda::lora_backward_workspace_floats(s.m, s.n, s.k, s.r) : 0;
  Guarded workspace(std::vector<float>(static_cast<std::size_t>(floats), NAN));
  if (split) bw.workspace = workspace.data();
  slm::cuda::lora_backward(bw, nullptr);
  for (const Guarded* out : {&y, &xa, &g, &da, &db, &dx, &workspace})
    EXPECT_TRUE(out->guards_intact()) << "a guard element was written";
  return {y.values(), xa.values(), g.values(), da.values(), db.values(), dx.values()};
}

// The float64 reference of every output.
struct Reference {
  std::vector<double> y, xa, g, da, db, dx;
};
Reference run_double(const Case& c) {
  const Shape s = c.s;
  const auto at = [](std::int64_t i) { return static_cast<std::size_t>(i); };
  auto xin = [&](std::int64_t t, std::int64_t q) {
    return static_cast<double>(c.x[at(t * s.k + q)]) * (c.mask.empty() ? 1.0 : c.mask[at(t * s.k + q)]);
  };
  Reference ref{{c.y0.begin(), c.y0.end()},   std::vector<double>(at(s.m * s.r)), std::vector<double>(at(s.m * s.r)),
                {c.da0.begin(), c.da0.end()}, {c.db0.begin(), c.db0.end()},       {c.dx0.begin(), c.dx0.end()}};
  for (std::int64_t t = 0; t < s.m; ++t) {
    for (std::int64_t j = 0; j < s.r; ++j) {
      double u = 0, g = 0;
      for (std::int64_t q = 0; q < s.k; ++q) u += xin(t, q) * c.a[at(j * s.k + q)];
      for (std::int64_t o = 0; o < s.n; ++o) g += static_cast<double>(c.dy[at(t * s.n + o)]) * c.b[at(o * s.r + j)];
      ref.xa[at(t * s.r + j)] = u;
      ref.g[at(t * s.r + j)] = g;
    }
    for (std::int64_t o = 0; o < s.n; ++o)
      for (std::int64_t j = 0; j < s.r; ++j)
        ref.y[at(t * s.n + o)] += c.scale * ref.xa[at(t * s.r + j)] * c.b[at(o * s.r + j)];
    for (std::int64_t q = 0; q < s.k; ++q) {
      double sum = 0;
      for (std::int64_t j = 0; j < s.r; ++j) sum += ref.g[at(t * s.r + j)] * c.a[at(j * s.k + q)];
      ref.dx[at(t * s.k + q)] += c.scale * sum * (c.mask.empty() ? 1.0 : c.mask[at(t * s.k + q)]);
    }
  }
  for (std::int64_t j = 0; j < s.r; ++j) {
    for (std::int64_t q = 0; q < s.k; ++q) {
      double sum = 0;
      for (std::int64_t t = 0; t < s.m; ++t) sum += ref.g[at(t * s.r + j)] * xin(t, q);
      ref.da[at(j * s.k + q)] += c.scale * sum;
    }
    for (std::int64_t o = 0; o < s.n; ++o) {
      double sum = 0;
      for (std::int64_t t = 0; t < s.m; ++t)
        sum += static_cast<double>(c.dy[at(t * s.n + o)]) * ref.xa[at(t * s.r + j)];
      ref.db[at(o * s.r + j)] += c.scale * sum;
    }
  }
  return ref;
}

std::string describe(const Shape& s, Drop d) {
  return "M " + std::to_string(s.m) + " K " + std::to_string(s.k) + " N " + std::to_string(s.n) + " r " +
         std::to_string(s.r) + ", " + name_of(d);
}

// Worst error of each output over all cases, against the CPU twin and (both backends) float64.
struct Worst {
  double vs_cpu = 0, gpu_vs_f64 = 0, cpu_vs_f64 = 0;
};

void compare(const char* what, const std::vector<float>& gpu, const std::vector<float>& cpu,
             const std::vector<double>& f64, const std::vector<double>& cond, std::int64_t width,
             const std::string& where, Worst& worst) {
  const double e = max_relative_error(gpu, cpu, width, cond);
  EXPECT_LT(e, k_tolerance) << what << ", " << where;
  worst.vs_cpu = std::max(worst.vs_cpu, e);
  worst.gpu_vs_f64 = std::max(worst.gpu_vs_f64, max_relative_error(gpu, f64, width, cond));
  worst.cpu_vs_f64 = std::max(worst.cpu_vs_f64, max_relative_error(cpu, f64, width, cond));
}

void report_worst(const char* what, const Worst& w) {
  if (std::getenv("SLM_OPS_VERBOSE"))
    std::printf("lora %-3s: cuda vs cpu %.3g; vs float64: cuda %.3g, cpu %.3g\n", what, w.vs_cpu, w.gpu_vs_f64,
                w.cpu_vs_f64);
}

TEST(CudaOpsLora, ForwardAndBackwardMatchTheCpuTwin) {
  Worst y, xa, g, da, db, dx;
  unsigned seed = 10;
  for (const Drop drop : {Drop::none, Drop::buffer, Drop::hash}) {
    for (const Shape s : k_shapes) {
      const Case c(s, drop, seed += 10);
      const Outputs cpu = run_cpu(c);
      const Reference ref = run_double(c), cond = run_double(c.absolute());
      for (const auto tile : {slm::cuda::LoraRowTile::rows32, slm::cuda::LoraRowTile::rows64}) {
        const Outputs gpu = run_gpu(c, true, false, tile);
        const std::string where =
            describe(s, drop) + (tile == slm::cuda::LoraRowTile::rows32 ? ", 32-row" : ", 64-row");
        compare("y", gpu.y, cpu.y, ref.y, cond.y, s.n, where, y);
        compare("xa", gpu.xa, cpu.xa, ref.xa, cond.xa, s.r, where, xa);
        compare("g", gpu.g, cpu.g, ref.g, cond.g, s.r, where, g);
        compare("da", gpu.da, cpu.da, ref.da, cond.da, s.k, where, da);
        compare("db", gpu.db, cpu.db, ref.db, cond.db, s.r, where, db);
        compare("dx", gpu.dx, cpu.dx, ref.dx, cond.dx, s.k, where, dx);
      }
    }
  }
  report_worst("y", y);
  report_worst("xa", xa);
  report_worst("g", g);
  report_worst("da", da);
  report_worst("db", db);
  report_worst("dx", dx);
}

// bf16 x and dy are widened where they are loaded and everything else is fp32: the kernels equal
// the fp32 CPU twin given the rounded values, to the fp32 tolerance.
TEST(CudaOpsLora, Bf16InputsMatchTheCpuTwinOnTheRoundedValues) {
  Worst y, da, db, dx;
  unsigned seed = 500;
  for (const Drop drop : {Drop::none, Drop::buffer, Drop::hash}) {
    for (const Shape s : {Shape{13, 40, 24, 4}, Shape{70, 100, 40, 16}, Shape{5, 33, 65, 33}, Shape{40, 24, 100, 64}}) {
      Case c(s, drop, seed += 10);
      c.round_inputs_to_bf16();
      const Outputs cpu = run_cpu(c), gpu = run_gpu(c);
      const Reference ref = run_double(c), cond = run_double(c.absolute());
      const std::string where = describe(s, drop) + ", bf16 inputs";
      compare("y", gpu.y, cpu.y, ref.y, cond.y, s.n, where, y);
      compare("da", gpu.da, cpu.da, ref.da, cond.da, s.k, where, da);
      compare("db", gpu.db, cpu.db, ref.db, cond.db, s.r, where, db);
      compare("dx", gpu.dx, cpu.dx, ref.dx, cond.dx, s.k, where, dx);
      EXPECT_LT(max_relative_error(gpu.xa, cpu.xa, s.r, cond.xa), k_tolerance) << where;
      EXPECT_LT(max_relative_error(gpu.g, cpu.g, s.r, cond.g), k_tolerance) << where;
    }
  }
  report_worst("y (bf16 inputs)", y);
  report_worst("da (bf16 inputs)", da);
  report_worst("db (bf16 inputs)", db);
  report_worst("dx (bf16 inputs)", dx);
}

// With a workspace the weight gradients reduce M in several ranges and add them up in order.
TEST(CudaOpsLora, WeightGradientsSplitOverTokensMatchTheCpuTwin) {
  Worst da, db;
  unsigned seed = 900;
  int split_cases = 0;
  for (const Drop drop : {Drop::none, Drop::hash}) {
    for (const Shape s : {Shape{70, 40, 24, 8}, Shape{130, 70, 36, 64}, Shape{200, 24, 100, 4}, Shape{13, 40, 24, 4},
                          Shape{257, 33, 40, 16}, Shape{130, 24, 40, 128}}) {
      const std::int64_t floats = slm::cuda::lora_backward_workspace_floats(s.m, s.n, s.k, s.r);
      split_cases += floats > (s.n + s.k) * s.r;  // more than one split
      const Case c(s, drop, seed += 10);
      const Outputs cpu = run_cpu(c), gpu = run_gpu(c, true, true), whole = run_gpu(c);
      const Reference ref = run_double(c), cond = run_double(c.absolute());
      const std::string where = describe(s, drop) + ", split over M";
      compare("da", gpu.da, cpu.da, ref.da, cond.da, s.k, where, da);
      compare("db", gpu.db, cpu.db, ref.db, cond.db, s.r, where, db);
      EXPECT_EQ(std::memcmp(gpu.dx.data(), whole.dx.data(), gpu.dx.size() * sizeof(float)), 0) << where;
      EXPECT_EQ(std::memcmp(gpu.y.data(), whole.y.data(), gpu.y.size() * sizeof(float)), 0) << where;
    }
  }
  EXPECT_GE(split_cases, 8) << "the shapes should take several splits";
  report_worst("da (split over M)", da);
  report_worst("db (split over M)", db);
}

TEST(CudaOpsLora, BackwardWithoutDxLeavesItAlone) {
  const Case c({13, 40, 24, 4}, Drop::hash, 3);
  const Outputs cpu = run_cpu(c, false), gpu = run_gpu(c, false);
  EXPECT_EQ(gpu.dx, c.dx0);
  EXPECT_LT(max_relative_error(gpu.da, cpu.da, c.s.k), k_tolerance);
  EXPECT_LT(max_relative_error(gpu.db, cpu.db, c.s.r), k_tolerance);
}

TEST(CudaOpsLora, HashMaskIsTheCpuStepMaskBitForBit) {
  // Forward with the hash and with the CPU step's mask as a buffer: the same bits.
  for (const double p : {0.05, 0.3, 0.5}) {
    Case hashed({40, 100, 24, 4}, Drop::hash, 5), buffered({40, 100, 24, 4}, Drop::buffer, 5);
    hashed.hash = slm::cuda::lora_dropout_hash(hashed.hash.base, p);
    buffered.mask = cpu_step_mask(hashed.hash.base, p, 40, 100);
    hashed.mask = buffered.mask;
    const Outputs h = run_gpu(hashed), m = run_gpu(buffered);
    EXPECT_EQ(std::memcmp(h.y.data(), m.y.data(), h.y.size() * sizeof(float)), 0) << "p " << p;
    EXPECT_EQ(std::memcmp(h.da.data(), m.da.data(), h.da.size() * sizeof(float)), 0) << "p " << p;
    EXPECT_EQ(std::memcmp(h.dx.data(), m.dx.data(), h.dx.size() * sizeof(float)), 0) << "p " << p;
  }
  // The threshold is the CPU's double comparison at its edge: u = p exactly is kept.
  EXPECT_EQ(slm::cuda::lora_dropout_hash(0, 0.5).threshold, std::uint64_t{1} << 52);
  EXPECT_EQ(slm::cuda::lora_dropout_hash(0, 0.0).threshold, 0u);
}

TEST(CudaOpsLora, EmptyInputWritesNothing) {
  DeviceArray<float> buf(64, 7.0f);
  slm::cuda::LoraForwardParams f;
  f.y = f.xa = buf.get(), f.x = f.a = f.b = buf.get(), f.m = 0, f.n = 4, f.k = 4, f.r = 2;
  slm::cuda::lora_forward(f, nullptr);
  slm::cuda::LoraBackwardParams b;
  b.da = b.db = b.dx = b.g = buf.get(), b.dy = b.x = b.a = b.b = b.xa = buf.get(), b.m = 0, b.n = 4, b.k = 4, b.r = 2;
  slm::cuda::lora_backward(b, nullptr);
  for (const float v : buf.download()) EXPECT_EQ(v, 7.0f);
  EXPECT_TRUE(buf.guards_intact());
}

TEST(CudaOpsLora, RejectsRanksAboveTheTiles) {
  DeviceArray<float> buf(129 * 4, 0.0f);
  slm::cuda::LoraForwardParams f;
  f.y = f.xa = buf.get(), f.x = f.a = f.b = buf.get(), f.m = 1, f.n = 4, f.k = 4, f.r = 129;
  EXPECT_THAT(slm::ops_test::error_message([&] { slm::cuda::lora_forward(f, nullptr); }),
              ::testing::HasSubstr("1 <= r <= 128"));
}

#if SLM_EMU_TESTS
TEST(CudaOpsLora, IdenticalBitsUnderEverySchedule) {
  using slm::emu::Schedule;
  using slm::emu::testing::ScopedSchedule;
  const Case c({70, 40, 36, 16}, Drop::hash, 7);
  Outputs first, first_tall, first_split;
  for (const auto& [schedule, seed] : {std::pair{Schedule::forward, 1}, std::pair{Schedule::reverse, 1},
                                       std::pair{Schedule::shuffled, 3}, std::pair{Schedule::shuffled, 99}}) {
    ScopedSchedule scoped(schedule, static_cast<std::uint64_t>(seed));
    // Default tiles (32-row blocks here), 64-row blocks, and the weight gradients split over M.
    const Outputs o = run_gpu(c), tall = run_gpu(c, true, false, slm::cuda::LoraRowTile::rows64),
                  split = run_gpu(c, true, true);
    if (first.y.empty()) first = o, first_tall = tall, first_split = split;
    for (const auto& [got, want] :
         {std::pair{&o.y, &first.y}, std::pair{&o.xa, &first.xa}, std::pair{&o.g, &first.g},
          std::pair{&o.da, &first.da}, std::pair{&o.db, &first.db}, std::pair{&o.dx, &first.dx},
          std::pair{&tall.y, &first_tall.y}, std::pair{&tall.dx, &first_tall.dx}, std::pair{&split.da, &first_split.da},
          std::pair{&split.db, &first_split.db}})
      EXPECT_EQ(std::memcmp(got->data(), want->data(), got->size() * sizeof(float)), 0)
          << "schedule " << static_cast<int>(schedule) << " seed " << seed;
  }
}
#endif  // SLM_EMU_TESTS

}  // namespace
