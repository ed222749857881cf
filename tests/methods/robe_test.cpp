#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "embcomp/kernels/robe.hpp"
#include "embcomp/methods/robe.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

__extension__ typedef __int128 Wide;  // exact products of 31-bit constants and ids
constexpr Wide kP = 2'038'074'743;

/// The spec's formulas in 128-bit arithmetic, term by term: location and sign of element j of
/// global id x in field e.
Index naive_location(const kernels::RobeHash& h, Index x, Index e, Index j) {
  const Wide L = h.chunk;
  Wide v = Wide{h.r[3]} * x + h.r[1] + j % L + Wide{h.r[2]} * (j / L);
  if (h.use_slot) v += Wide{h.r[4]} * e;
  return static_cast<Index>((v % kP) % h.size);
}
double naive_sign(const kernels::RobeHash& h, Index x, Index e, Index j) {
  Wide v = Wide{h.r[7]} * x + h.r[5] + Wide{h.r[6]} * j;
  if (h.use_slot) v += Wide{h.r[8]} * e;
  return 2.0 * static_cast<double>((v % kP) % 2) - 1.0;
}

}  // namespace

TEST_CASE("robe: the array holds floor(budget / 4) cells, at most N d", "[methods][robe]") {
  const Schema s = small_schema();  // N = 1293, d = 8
  for (double ratio : {1.0, 2.0, 3.0, 100.0, 2000.0}) {
    INFO("ratio " << ratio);
    auto table = make_method<RobeTable>("robe", {s, Budget{ratio}, 1});
    CHECK(table->size() == static_cast<Index>(std::floor(Budget{ratio}.bytes(s) / 4)));
    CHECK(static_cast<double>(table->memory().parameter_bytes) <= Budget{ratio}.bytes(s));
  }
  CHECK_THROWS_AS(make_table("robe", {s, Budget{1e6}, 1}), InfeasibleBudget);
  CHECK_THROWS_WITH(make_table("robe:chunks=3", {s, Budget{2}, 1}), Catch::Contains("divisor of dim 8"));
  CHECK_THROWS_AS(make_table("robe:chunks=0", {s, Budget{2}, 1}), InvalidArgument);
}

TEST_CASE("robe: hashes follow the spec's order in exact arithmetic, ids up to 2^31", "[methods][robe]") {
  for (const bool slot : {false, true}) {
    const kernels::RobeHash h = kernels::make_robe_hash(77, 1'000'003, 4, slot);
    for (int i = 1; i <= 8; ++i) CHECK((h.r[i] >= 1 && h.r[i] < kP));
    int positive = 0, total = 0;
    for (Index x : {Index{0}, Index{1}, Index{12345}, Index{2'038'074'742}, (Index{1} << 31) - 1}) {
      for (Index e : {Index{0}, Index{25}}) {
        for (Index j = 0; j < 16; ++j) {
          CHECK(kernels::robe_location(h, x, e, j) == naive_location(h, x, e, j));
          CHECK(kernels::robe_sign(h, x, e, j) == naive_sign(h, x, e, j));
          positive += kernels::robe_sign(h, x, e, j) > 0;
          ++total;
        }
      }
    }
    CHECK(positive > total / 4);  // both signs occur
    CHECK(positive < 3 * total / 4);
  }
  // robe_cells carries both hashes from element to element: the same pairs, also across a
  // wrap at P (constants chosen so that a window starts 3 cells before P) and with S < d.
  for (const Index chunk : {Index{1}, Index{2}, Index{8}}) {
    for (const std::int64_t size : {std::int64_t{5}, std::int64_t{1'000'003}}) {
      kernels::RobeHash h = kernels::make_robe_hash(11, size, chunk, true);
      std::vector<Index> cells(8);
      std::vector<float> signs(8);
      for (Index x : {Index{0}, Index{3}, Index{123457}, (Index{1} << 31) - 1}) {
        kernels::robe_cells(h, x, 7, 8, cells.data(), signs.data());
        for (Index j = 0; j < 8; ++j) {
          CHECK(cells[j] == naive_location(h, x, 7, j));
          CHECK(signs[j] == naive_sign(h, x, 7, j));
        }
      }
      h.r[1] = static_cast<std::int64_t>(kP) - 3, h.r[3] = 1, h.use_slot = false;
      kernels::robe_cells(h, 0, 0, 8, cells.data(), signs.data());
      for (Index j = 0; j < 8; ++j) CHECK(cells[j] == naive_location(h, 0, 0, j));
    }
  }
  // Z = 1: the d cells of an id are one window of consecutive cells, wrapping around the end
  // of the array (a wrap at P as well needs a start within d of P: none among these ids).
  const kernels::RobeHash one = kernels::make_robe_hash(3, 100, 8, false);
  int wrapped = 0;
  for (Index x = 0; x < 200; ++x) {
    const Index start = kernels::robe_location(one, x, 0, 0);
    wrapped += start > 100 - 8;
    for (Index j = 1; j < 8; ++j) CHECK(kernels::robe_location(one, x, 0, j) == (start + j) % 100);
  }
  CHECK(wrapped > 0);  // some windows do wrap
}

TEST_CASE("robe: lookup and backward match a per-element reference", "[methods][robe]") {
  const Schema s = small_schema();
  for (const std::string spec : {"robe", "robe:chunks=4", "robe:slot=true"}) {
    INFO("spec " << spec);
    auto table = make_method<RobeTable>(spec, {s, Budget{20}, 9});
    const kernels::RobeHash& h = table->hash();
    const float* M = table->array().data();
    const auto ids = random_ids(s, 300, 2);  // 1500 positions: parallel, many shared cells
    const auto offsets = s.field_offsets();
    const Index F = s.num_fields(), d = s.dim;
    std::vector<double> expected_out, expected_grad(static_cast<std::size_t>(table->size()), 0.0);
    const auto dE = random_values(ids.size() * static_cast<std::size_t>(d), 4);
    for (std::size_t p = 0; p < ids.size(); ++p) {
      const Index e = static_cast<Index>(p) % F, x = offsets[e] + ids[p];
      for (Index j = 0; j < d; ++j) {
        const Index cell = naive_location(h, x, e, j);
        const double sign = naive_sign(h, x, e, j);
        expected_out.push_back(sign * M[cell]);
        expected_grad[cell] += sign * dE[p * static_cast<std::size_t>(d) + j];
      }
    }
    const auto out = lookup(*table, ids);
    REQUIRE(out.size() == expected_out.size());
    for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == expected_out[i]);  // exact: a signed copy
    const Gradients grads = backward_of(*table, ids, dE);
    const auto got = densify(grads, &table->array());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(expected_grad[i]).epsilon(1e-5).margin(1e-5));
  }
}

TEST_CASE("robe: slot terms separate fields that share a global id's hash", "[methods][robe]") {
  // Without slot terms the hash depends on the global id only; with them, the field too.
  const kernels::RobeHash plain = kernels::make_robe_hash(5, 997, 8, false);
  const kernels::RobeHash slot = kernels::make_robe_hash(5, 997, 8, true);
  int differ_plain = 0, differ_slot = 0;
  for (Index x = 0; x < 100; ++x) {
    differ_plain += kernels::robe_location(plain, x, 0, 0) != kernels::robe_location(plain, x, 3, 0);
    differ_slot += kernels::robe_location(slot, x, 0, 0) != kernels::robe_location(slot, x, 3, 0);
  }
  CHECK(differ_plain == 0);
  CHECK(differ_slot > 90);
}
