#include <catch2/catch.hpp>

#include <xxhash.h>

#include <cmath>
#include <set>
#include <vector>

#include "embcomp/kernels/bucket.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/kernels/random.hpp"

using namespace embcomp::kernels;

TEST_CASE("xxhash64 equals libxxhash's XXH64 on 8-byte keys", "[kernels][hash]") {
  for (std::uint64_t seed : {0ULL, 1ULL, 0x9e3779b97f4a7c15ULL}) {
    for (std::uint64_t key : {0ULL, 1ULL, 42ULL, 33762576ULL, ~0ULL, 0x0123456789abcdefULL}) {
      CHECK(xxhash64(key, seed) == XXH64(&key, sizeof(key), seed));
    }
  }
}

TEST_CASE("bucket stays in range and modulo is the plain remainder", "[kernels][hash]") {
  for (std::uint64_t key = 0; key < 5000; key += 7) {
    CHECK(bucket(key, 97, 5, HashKind::xxhash) < 97);
    CHECK(bucket(key, 97, 5, HashKind::modulo) == key % 97);
  }
}

TEST_CASE("xxhash buckets spread keys evenly", "[kernels][hash]") {
  // 100,000 keys into 100 buckets: each count is Binomial(1e5, 0.01), sd ~ 31.5; 6 sd bound.
  std::vector<int> counts(100, 0);
  for (std::uint64_t key = 0; key < 100000; ++key) ++counts[bucket(key, 100, 3, HashKind::xxhash)];
  for (int c : counts) CHECK(std::abs(c - 1000) < 190);
}

TEST_CASE("uniform01 lies in the unit interval, has mean one half and depends on stream and counter", "[kernels][random]") {
  double sum = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const float u = uniform01(17, static_cast<std::uint64_t>(i));
    REQUIRE(u >= 0.0f);
    REQUIRE(u < 1.0f);
    sum += u;
  }
  CHECK(sum / n == Approx(0.5).margin(4 * 0.2887 / std::sqrt(n)));
  CHECK(uniform01(1, 5) != uniform01(2, 5));
  CHECK(uniform01(1, 5) == uniform01(1, 5));
}

TEST_CASE("gumbel is finite with the standard Gumbel's mean and variance", "[kernels][random]") {
  const int n = 200000;
  double sum = 0.0, squares = 0.0;
  for (int i = 0; i < n; ++i) {
    const double g = gumbel(23, static_cast<std::uint64_t>(i));
    REQUIRE(std::isfinite(g));
    sum += g;
    squares += g * g;
  }
  const double mean = sum / n, variance = squares / n - mean * mean;
  const double euler_gamma = 0.5772156649, pi_squared_over_6 = 1.6449340668;
  CHECK(mean == Approx(euler_gamma).margin(4 * std::sqrt(pi_squared_over_6 / n)));
  CHECK(variance == Approx(pi_squared_over_6).epsilon(0.03));
  CHECK(gumbel(1, 5) == gumbel(1, 5));
  CHECK(gumbel(1, 5) != gumbel(2, 5));
}

TEST_CASE("uniform_below covers 0 to n - 1 evenly and never reaches n", "[kernels][random]") {
  for (std::uint64_t n : {1ULL, 3ULL, 16ULL}) {
    std::vector<int> seen(n, 0);
    const int draws = 48000;
    for (int i = 0; i < draws; ++i) {
      const std::uint64_t v = uniform_below(7, static_cast<std::uint64_t>(i), n);
      REQUIRE(v < n);
      ++seen[v];
    }
    const double expected = static_cast<double>(draws) / static_cast<double>(n);
    for (int count : seen) CHECK(std::fabs(count - expected) < 5 * std::sqrt(expected) + 1);
  }
  CHECK(uniform_below(1, 5, 10) == uniform_below(1, 5, 10));
}
