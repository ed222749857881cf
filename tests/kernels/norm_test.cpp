#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "embcomp/kernels/norm.hpp"

using embcomp::Index;

TEST_CASE("l2_norm matches a double-precision sum of squares at every length", "[kernels][norm]") {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> value(0.0f, 3.0f);
  for (Index n = 0; n <= 70; ++n) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = value(rng);
    double sum = 0.0;
    for (float v : x) sum += static_cast<double>(v) * v;
    INFO("n " << n);
    CHECK(embcomp::kernels::l2_norm(x.data(), n) == Approx(std::sqrt(sum)).epsilon(1e-6).margin(1e-30));
  }
  const float one_hot[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, -2.5f};
  CHECK(embcomp::kernels::l2_norm(one_hot, 10) == 2.5f);
}
