// test_lora_ops.cpp — CPU LoRA linear forward against float64 and its backward (dA, dB, dx)
// against central finite differences, with and without an inverted-dropout mask, with
// accumulation onto pre-filled gradients and the frozen product, and guard regions.
#include <gtest/gtest.h>

#include <tuple>

#include "kernels/cpu/lora.h"
#include "tests/ops/grad_check_util.h"

namespace slm {
namespace {
using test::Guarded;

struct LoraCase {
  int m, n, k, r;
  bool dropout;
};

// y = y0 + scale * ((x * mask) A^T) B^T in float64.
std::vector<double> lora_ref(const std::vector<double>& y0, const std::vector<double>& x,
                             const std::vector<double>& a, const std::vector<double>& b,
                             const std::vector<double>& mask, double scale, const LoraCase& c) {
  std::vector<double> xa(c.m * c.r, 0.0), y = y0;
  for (int i = 0; i < c.m; ++i)
    for (int q = 0; q < c.r; ++q)
      for (int j = 0; j < c.k; ++j) xa[i * c.r + q] += x[i * c.k + j] * mask[i * c.k + j] * a[q * c.k + j];
  for (int i = 0; i < c.m; ++i)
    for (int o = 0; o < c.n; ++o)
      for (int q = 0; q < c.r; ++q) y[i * c.n + o] += scale * xa[i * c.r + q] * b[o * c.r + q];
  return y;
}

std::vector<double> make_mask(std::mt19937& rng, int count, bool dropout) {
  const double p = 0.25;
  std::bernoulli_distribution keep(1 - p);
  std::vector<double> mask(count, 1.0);
  if (dropout)
    for (double& v : mask) v = keep(rng) ? 1 / (1 - p) : 0.0;
  return mask;
}

TEST(LoraOps, ForwardAndBackwardByFiniteDifferences) {
  std::mt19937 rng(21);
  for (const LoraCase& c : {LoraCase{5, 7, 13, 3, false}, {7, 13, 5, 4, true}, {13, 5, 7, 1, true},
                            {1, 3, 2, 2, false}}) {
    const double scale = 16.0 / c.r;
    auto x = test::normal_doubles(rng, c.m * c.k), a = test::normal_doubles(rng, c.r * c.k, 0.3);
    auto b = test::normal_doubles(rng, c.n * c.r, 0.3), y0 = test::normal_doubles(rng, c.m * c.n);
    auto dy = test::normal_doubles(rng, c.m * c.n), mask = make_mask(rng, c.m * c.k, c.dropout);
    Guarded gx = test::to_guarded(x), ga = test::to_guarded(a), gb = test::to_guarded(b);
    Guarded gy = test::to_guarded(y0), gdy = test::to_guarded(dy), gmask = test::to_guarded(mask);
    Guarded xa(c.m * c.r, NAN), g(c.m * c.r, NAN), masked_x(c.m * c.k, NAN);
    const float* mask_ptr = c.dropout ? gmask.data() : nullptr;
    float* masked_ptr = c.dropout ? masked_x.data() : nullptr;

    cpu::lora_forward(gy.data(), gx.data(), ga.data(), gb.data(), float(scale), xa.data(), c.m, c.n, c.k, c.r,
                      mask_ptr, masked_ptr);
    test::expect_close(gy, lora_ref(y0, x, a, b, mask, scale, c), 1e-5, "lora_forward y");

    Guarded da(c.r * c.k), db(c.n * c.r), dx(c.m * c.k);
    da.fill_normal(rng);
    db.fill_normal(rng);
    dx.fill_normal(rng);  // stands for the frozen path's dx
    const auto da0 = da.as_double(), db0 = db.as_double(), dx0 = dx.as_double();
    cpu::lora_backward(da.data(), db.data(), dx.data(), gdy.data(), gx.data(), ga.data(), gb.data(), xa.data(),
                       float(scale), c.m, c.n, c.k, c.r, g.data(), mask_ptr, masked_ptr);
    auto loss = [&] { return test::contract(dy, lora_ref(y0, x, a, b, mask, scale, c)); };
    test::expect_grad_close(da, test::plus(da0, test::numeric_grad(a, loss)), 1e-4, "lora dA (+=)");
    test::expect_grad_close(db, test::plus(db0, test::numeric_grad(b, loss)), 1e-4, "lora dB (+=)");
    test::expect_grad_close(dx, test::plus(dx0, test::numeric_grad(x, loss)), 1e-4, "lora dx (+=)");
    EXPECT_TRUE(xa.guards_intact() && g.guards_intact() && masked_x.guards_intact());

    // dx = nullptr: the adapter gradients are the same (accumulated once more).
    Guarded da2(c.r * c.k), db2(c.n * c.r);
    cpu::lora_backward(da2.data(), db2.data(), nullptr, gdy.data(), gx.data(), ga.data(), gb.data(), xa.data(),
                       float(scale), c.m, c.n, c.k, c.r, g.data(), mask_ptr, masked_ptr);
    std::vector<double> da_only(c.r * c.k), db_only(c.n * c.r);
    for (std::size_t i = 0; i < da_only.size(); ++i) da_only[i] = double(da[i]) - da0[i];
    for (std::size_t i = 0; i < db_only.size(); ++i) db_only[i] = double(db[i]) - db0[i];
    test::expect_grad_close(da2, da_only, 1e-5, "lora dA without dx");
    test::expect_grad_close(db2, db_only, 1e-5, "lora dB without dx");
  }
}

// B = 0 (PEFT's initialization) leaves y as the frozen product and dA = 0, dB != 0.
TEST(LoraOps, ZeroBIsTheBaseModel) {
  std::mt19937 rng(22);
  const int m = 5, n = 7, k = 13, r = 4;
  Guarded x(m * k), a(r * k), b(n * r, 0.0f), y(m * n), xa(m * r), g(m * r), dy(m * n);
  x.fill_normal(rng);
  a.fill_normal(rng);
  y.fill_normal(rng);
  dy.fill_normal(rng);
  const auto y0 = y.as_double();
  cpu::lora_forward(y.data(), x.data(), a.data(), b.data(), 2.0f, xa.data(), m, n, k, r);
  test::expect_close(y, y0, 0, "y with B = 0");
  Guarded da(r * k), db(n * r);
  cpu::lora_backward(da.data(), db.data(), nullptr, dy.data(), x.data(), a.data(), b.data(), xa.data(), 2.0f, m,
                     n, k, r, g.data());
  test::expect_close(da, std::vector<double>(r * k, 0.0), 0, "dA with B = 0");
  double norm = 0;
  for (int i = 0; i < n * r; ++i) norm += std::abs(db[i]);
  EXPECT_GT(norm, 0.0);
}

}  // namespace
}  // namespace slm
