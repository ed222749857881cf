#include <catch2/catch.hpp>

#include <cmath>

#include "embcomp/kernels/quantize.hpp"
#include "embcomp/kernels/random.hpp"

using namespace embcomp::kernels;

TEST_CASE("stochastic rounding is unbiased within a statistical bound", "[kernels][quantize]") {
  const float scale = 0.01f;
  for (float x : {0.0031f, -0.0172f, 0.5049f, 1.2699f}) {
    const int n = 100000;
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      const float q = quantize_stochastic(x, scale, 0.0f, 8, uniform01(99, static_cast<std::uint64_t>(i)));
      sum += dequantize(q, scale, 0.0f);
    }
    // Each decode is one of two neighbours s apart: variance <= s^2/4; 5 standard errors.
    CHECK(sum / n == Approx(x).margin(5 * 0.5 * scale / std::sqrt(n)));
  }
}

TEST_CASE("stochastic rounding lands on a neighbouring code", "[kernels][quantize]") {
  for (int i = 0; i < 1000; ++i) {
    const float x = uniform(5, static_cast<std::uint64_t>(i), -1.0f, 1.0f);
    const float q = quantize_stochastic(x, 0.01f, 0.0f, 8, uniform01(6, static_cast<std::uint64_t>(i)));
    CHECK(std::fabs(dequantize(q, 0.01f, 0.0f) - x) <= 0.01f + 1e-6f);
  }
}

TEST_CASE("codes saturate at the b-bit range", "[kernels][quantize]") {
  CHECK(quantize_stochastic(1e6f, 0.01f, 0.0f, 8, 0.5f) == 127.0f);
  CHECK(quantize_stochastic(-1e6f, 0.01f, 0.0f, 8, 0.5f) == -128.0f);
  CHECK(quantize_stochastic(1e6f, 0.01f, 0.0f, 16, 0.5f) == 32767.0f);
  CHECK(quantize_nearest(-1e6f, 0.01f, 0.0f, 16) == -32768.0f);
  CHECK(quantize_nearest(0.026f, 0.01f, 0.0f, 8) == 3.0f);
}

TEST_CASE("symmetric scale maps the largest magnitude to the largest code", "[kernels][quantize]") {
  CHECK(symmetric_scale(1.27f, 8) == Approx(0.01f));
  CHECK(symmetric_scale(0.0f, 8) == 1.0f);
}
