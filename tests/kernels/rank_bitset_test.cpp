#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "embcomp/kernels/rank_bitset.hpp"

using namespace embcomp::kernels;

TEST_CASE("bitset and sorted ranks equal their brute-force twins", "[kernels][rank_bitset]") {
  std::mt19937_64 rng(5);
  for (std::uint64_t n : {1ULL, 63ULL, 64ULL, 65ULL, 1000ULL}) {
    for (double density : {0.0, 0.03, 0.5, 1.0}) {
      const std::uint64_t words = (n + 63) / 64;
      std::vector<std::uint64_t> bits(words, 0);
      std::vector<std::uint32_t> sorted;
      std::bernoulli_distribution member(density);
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!member(rng)) continue;
        bits[i / 64] |= 1ULL << (i % 64);
        sorted.push_back(static_cast<std::uint32_t>(i));
      }
      std::vector<std::uint32_t> ranks(words);
      bitset_build_ranks(bits.data(), words, ranks.data());
      for (std::uint64_t i = 0; i < n; ++i) {
        INFO("n " << n << " density " << density << " i " << i);
        REQUIRE(bitset_rank(bits.data(), ranks.data(), i) == bitset_rank_reference(bits.data(), i));
        REQUIRE(sorted_rank(sorted.data(), sorted.size(), i) ==
                sorted_rank_reference(sorted.data(), sorted.size(), i));
        REQUIRE(sorted_contains(sorted.data(), sorted.size(), i) == bitset_contains(bits.data(), i));
      }
    }
  }
}
