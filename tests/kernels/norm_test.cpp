#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
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

TEST_CASE("l2_norms equals l2_norm row by row, bit for bit", "[kernels][norm]") {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> value(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-30, 30);
  for (Index d : {1, 5, 8, 12, 16, 24, 32, 64}) {
    for (Index rows : {0, 1, 3, 4, 5, 8, 17}) {
      std::vector<float> x(static_cast<std::size_t>(rows * d));
      // Magnitudes spread over 60 binades, so the summation order shows in the last bits.
      for (auto& v : x) v = std::ldexp(value(rng), exponent(rng));
      if (rows > 2) x[static_cast<std::size_t>(2 * d)] = std::numeric_limits<float>::infinity();
      if (rows > 4) x[static_cast<std::size_t>(4 * d + d - 1)] = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> out(static_cast<std::size_t>(rows) + 1, -1.0f);
      embcomp::kernels::l2_norms(x.data(), rows, d, out.data());
      for (Index r = 0; r < rows; ++r) {
        const float want = embcomp::kernels::l2_norm(x.data() + r * d, d);
        INFO("d " << d << ", rows " << rows << ", row " << r);
        if (std::isnan(want)) {
          CHECK(std::isnan(out[static_cast<std::size_t>(r)]));
        } else {
          CHECK(std::memcmp(&out[static_cast<std::size_t>(r)], &want, sizeof(float)) == 0);
        }
      }
      CHECK(out[static_cast<std::size_t>(rows)] == -1.0f);  // nothing written past the rows

      // l2_norms_at: the same values for a listed subset of the rows, in a shuffled order, and
      // nothing written at the rows left out.
      std::vector<Index> listed;
      for (Index r = 0; r < rows; ++r) {
        if (r % 3 != 1) listed.push_back(r);
      }
      std::shuffle(listed.begin(), listed.end(), rng);
      std::vector<float> at(static_cast<std::size_t>(rows), -1.0f);
      embcomp::kernels::l2_norms_at(x.data(), d, listed.data(), static_cast<Index>(listed.size()), at.data());
      for (Index r = 0; r < rows; ++r) {
        INFO("l2_norms_at: d " << d << ", rows " << rows << ", row " << r);
        const float want = r % 3 == 1 ? -1.0f : out[static_cast<std::size_t>(r)];
        if (std::isnan(want)) {
          CHECK(std::isnan(at[static_cast<std::size_t>(r)]));
        } else {
          CHECK(std::memcmp(&at[static_cast<std::size_t>(r)], &want, sizeof(float)) == 0);
        }
      }
    }
  }
}
