// kernels::gemm (the nn layers' products) against the plain triple loop, for every operand
// layout, shapes with partial tiles and panels, leading dimensions wider than the matrices,
// overwrite and accumulate, and sizes on both sides of the parallel threshold.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "embcomp/kernels/gemm.hpp"

using namespace embcomp;
using kernels::GemmOperand;

namespace {

struct Shape {
  Index m, n, k;
};

std::vector<float> random_values(std::size_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = u(rng);
  return v;
}

/// op(X) [rows x cols] stored with `pad` extra columns, transposed or not.
struct Stored {
  std::vector<float> values;
  GemmOperand op;
  Stored(Index rows, Index cols, bool transposed, Index pad, std::mt19937& rng) {
    const Index stored_rows = transposed ? cols : rows;
    const Index ld = (transposed ? rows : cols) + pad;
    values = random_values(static_cast<std::size_t>(stored_rows * ld), rng);
    op = {values.data(), ld, transposed};
  }
};

using GemmFn = void (*)(Index, Index, Index, GemmOperand, GemmOperand, float*, Index, bool);

void check_gemm(Shape s, bool ta, bool tb, bool accumulate, Index pad,
                GemmFn fn = [](Index m, Index n, Index k, GemmOperand a, GemmOperand b, float* c,
                               Index ldc, bool acc) { kernels::gemm(m, n, k, a, b, c, ldc, acc); }) {
  std::mt19937 rng(static_cast<unsigned>(s.m * 131 + s.n * 17 + s.k + ta * 2 + tb));
  const Stored a(s.m, s.k, ta, pad, rng);
  const Stored b(s.k, s.n, tb, pad, rng);
  const Index ldc = s.n + pad;
  std::vector<float> c = random_values(static_cast<std::size_t>(s.m * ldc), rng);
  std::vector<float> expected = c;
  fn(s.m, s.n, s.k, a.op, b.op, c.data(), ldc, accumulate);
  kernels::gemm_reference(s.m, s.n, s.k, a.op, b.op, expected.data(), ldc, accumulate);
  for (std::size_t i = 0; i < c.size(); ++i) {
    const bool padding = static_cast<Index>(i) % ldc >= s.n;
    if (padding) {
      REQUIRE(c[i] == expected[i]);  // never written
    } else {
      REQUIRE(c[i] == Approx(expected[i]).margin(1e-4 * static_cast<double>(s.k)));
    }
  }
}

}  // namespace

TEST_CASE("gemm matches the reference for every layout, tail and size", "[nn][gemm]") {
  const std::vector<Shape> shapes = {{1, 1, 1},    {5, 3, 7},     {6, 16, 4},    {7, 17, 13},
                                     {13, 512, 9}, {128, 16, 64}, {128, 367, 33}, {256, 1, 128},
                                     {128, 512, 13}, {130, 70, 90}};
  for (const Shape& s : shapes) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        for (bool accumulate : {false, true}) {
          CAPTURE(s.m, s.n, s.k, ta, tb, accumulate);
          check_gemm(s, ta, tb, accumulate, 0);
          check_gemm(s, ta, tb, accumulate, 3);
        }
      }
    }
  }
}

TEST_CASE("gemm_serial and the Eigen fallback match the reference", "[nn][gemm]") {
  // The fallback runs where the CPU lacks AVX2 or FMA; it is called directly here.
  for (const Shape& s : {Shape{7, 17, 13}, Shape{128, 367, 33}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        CAPTURE(s.m, s.n, s.k, ta, tb);
        check_gemm(s, ta, tb, true, 2, kernels::gemm_detail::gemm_eigen);
        check_gemm(s, ta, tb, false, 2, [](Index m, Index n, Index k, GemmOperand a,
                                           GemmOperand b, float* c, Index ldc, bool acc) {
          kernels::gemm_serial(m, n, k, a, b, c, ldc, acc);
        });
      }
    }
  }
}

TEST_CASE("gemm with k = 0 zeroes or keeps C", "[nn][gemm]") {
  std::vector<float> c(6, 2.0f);
  const float one = 1.0f;
  kernels::gemm(2, 3, 0, {&one, 1}, {&one, 3}, c.data(), 3, true);
  CHECK(c == std::vector<float>(6, 2.0f));
  kernels::gemm(2, 3, 0, {&one, 1}, {&one, 3}, c.data(), 3, false);
  CHECK(c == std::vector<float>(6, 0.0f));
}
