// kernels/pq.hpp: packed codes against a plain array of codes, and the nearest centroid
// against a brute-force scan.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "embcomp/kernels/pq.hpp"

using namespace embcomp;

TEST_CASE("pq: packed codes read back what was written, at every width", "[kernels][pq]") {
  std::mt19937 rng(3);
  for (int bits = 1; bits <= 12; ++bits) {
    INFO("bits " << bits);
    const Index count = 1000;
    std::vector<std::uint64_t> words(static_cast<std::size_t>(kernels::packed_words(count, bits)), 0);
    std::vector<std::uint32_t> plain(static_cast<std::size_t>(count), 0);
    std::uniform_int_distribution<std::uint32_t> code(0, (1u << bits) - 1);
    std::uniform_int_distribution<Index> at(0, count - 1);
    for (int write = 0; write < 5000; ++write) {  // overwrites in random order
      const Index i = at(rng);
      const std::uint32_t c = code(rng);
      kernels::write_code(words.data(), i, bits, c);
      plain[static_cast<std::size_t>(i)] = c;
    }
    for (Index i = 0; i < count; ++i) CHECK(kernels::read_code(words.data(), i, bits) == plain[static_cast<std::size_t>(i)]);
  }
  CHECK(kernels::code_bits(2) == 1);
  CHECK(kernels::code_bits(32) == 5);
  CHECK(kernels::code_bits(33) == 6);
  CHECK(kernels::code_bits(256) == 8);
}

TEST_CASE("pq: nearest centroid is the brute-force argmin, first on ties", "[kernels][pq]") {
  const std::vector<float> centroids = {0, 0, 1, 1, -1, 2, 1, 1};  // 4 centroids of width 2
  const float q1[] = {0.9f, 1.2f};
  CHECK(kernels::nearest_centroid(q1, centroids.data(), 4, 2) == 1);  // (1,1), tied with row 3
  const float q2[] = {-0.8f, 1.9f};
  CHECK(kernels::nearest_centroid(q2, centroids.data(), 4, 2) == 2);
  const float q3[] = {0.1f, -0.2f};
  CHECK(kernels::nearest_centroid(q3, centroids.data(), 4, 2) == 0);
}
