// kernels/magnitude.hpp: the radix-select pruning against its plain twin (a stable sort).
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "embcomp/kernels/magnitude.hpp"

using namespace embcomp;

namespace {

std::vector<float> values(Index n, unsigned seed, bool with_ties) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(static_cast<std::size_t>(n));
  for (auto& v : w) v = normal(rng);
  if (with_ties) {  // repeated magnitudes of both signs, and zeros already pruned
    for (Index i = 0; i < n; i += 3) w[static_cast<std::size_t>(i)] = (i % 2 ? -0.01f : 0.01f);
    for (Index i = 1; i < n; i += 7) w[static_cast<std::size_t>(i)] = 0.0f;
  }
  return w;
}

}  // namespace

TEST_CASE("magnitude: prune_smallest equals the sorted reference, ties by position",
          "[kernels][magnitude]") {
  for (bool ties : {false, true}) {
    for (Index n : {Index{1}, Index{2}, Index{17}, Index{1000}, Index{70'001}}) {
      for (double fraction : {0.0, 0.01, 0.3, 0.5, 0.97, 1.0}) {
        const auto k = static_cast<Index>(fraction * static_cast<double>(n));
        INFO("n " << n << ", k " << k << ", ties " << ties);
        auto fast = values(n, static_cast<unsigned>(n), ties);
        auto plain = fast;
        kernels::prune_smallest(fast.data(), n, k);
        kernels::prune_smallest_reference(plain.data(), n, k);
        CHECK(fast == plain);
        Index zeros = 0;
        for (float v : fast) zeros += v == 0.0f;
        CHECK(zeros >= k);
      }
    }
  }
}

TEST_CASE("magnitude: the k-th smallest magnitude key", "[kernels][magnitude]") {
  const std::vector<float> w = {0.5f, -0.25f, 3.0f, -1e-30f, 0.0f, 2.0f};
  // Magnitudes sorted: 0, 1e-30, 0.25, 0.5, 2, 3.
  CHECK(kernels::kth_smallest_magnitude_key(w.data(), 6, 1) == kernels::magnitude_key(0.0f));
  CHECK(kernels::kth_smallest_magnitude_key(w.data(), 6, 2) == kernels::magnitude_key(1e-30f));
  CHECK(kernels::kth_smallest_magnitude_key(w.data(), 6, 4) == kernels::magnitude_key(0.5f));
  CHECK(kernels::kth_smallest_magnitude_key(w.data(), 6, 6) == kernels::magnitude_key(3.0f));
}

TEST_CASE("magnitude: OptEmbed's binary step and its surrogate slope", "[kernels][magnitude]") {
  CHECK(kernels::binary_step(1e-7f) == 1.0f);
  CHECK(kernels::binary_step(0.0f) == 0.0f);
  CHECK(kernels::binary_step(-3.0f) == 0.0f);
  // 2 - 4|x| inside 0.4, 0.4 up to 1, 0 beyond; even in x.
  for (float x : {0.0f, 0.1f, 0.25f, 0.4f}) {
    CHECK(kernels::binary_step_surrogate(x) == Approx(2.0f - 4.0f * x));
    CHECK(kernels::binary_step_surrogate(-x) == kernels::binary_step_surrogate(x));
  }
  for (float x : {0.41f, 0.7f, 1.0f}) CHECK(kernels::binary_step_surrogate(-x) == 0.4f);
  for (float x : {1.01f, 5.0f}) CHECK(kernels::binary_step_surrogate(x) == 0.0f);
}
