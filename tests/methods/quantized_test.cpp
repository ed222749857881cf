#include <catch2/catch.hpp>

#include "embcomp/optim/sgd.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

TEST_CASE("int8/int16 reach about 4x and 2x and no more", "[methods][quantized]") {
  const Schema s = small_schema();
  auto int8 = make_table("int8", {s, Budget{3.99}, 1});
  CHECK(int8->memory().serving_bytes == static_cast<std::size_t>(s.total_rows() * s.dim + 8));
  CHECK(int8->memory().ratio() == Approx(4.0).epsilon(1e-3));
  CHECK_THROWS_AS(make_table("int8", {s, Budget{4.0}, 1}), InfeasibleBudget);  // the scale costs 8 B
  auto int16 = make_table("int16:scale_mode=per_row", {s, Budget{1.5}, 1});
  CHECK(int16->memory().serving_bytes ==
        static_cast<std::size_t>(s.total_rows() * s.dim * 2 + s.total_rows() * 4));
  CHECK_THROWS_WITH(make_table("int16", {s, Budget{2.5}, 1}), Catch::Contains("highest ratio"));
}

TEST_CASE("quantized lookups decode codes on the scale grid", "[methods][quantized]") {
  auto t = make_table("int8:scale=0.004", {Schema{{50, 20}, 4}, Budget{2}, 3});
  const auto ids = random_ids(t->schema(), 30, 2);
  for (float v : lookup(*t, ids)) {
    const float code = v / 0.004f;
    CHECK(code == Approx(std::nearbyint(code)).margin(1e-3));
  }
}

TEST_CASE("quantized backward equals the full table's backward", "[methods][quantized]") {
  // The gradient of a lookup does not depend on the stored values, so int8 and full produce
  // identical sparse gradients for the same ids and dE (the straight-through update).
  const Schema s = small_schema();
  auto q = make_table("int8", {s, Budget{2}, 1});
  auto f = make_table("full", {s, Budget{1}, 1});
  const auto ids = random_ids(s, 40, 5);
  const auto dE = random_values(ids.size() * static_cast<std::size_t>(s.dim), 6);
  Gradients gq, gf;
  q->backward(batch_of(ids, s), {dE.data(), static_cast<Index>(ids.size()), s.dim}, gq);
  f->backward(batch_of(ids, s), {dE.data(), static_cast<Index>(ids.size()), s.dim}, gf);
  CHECK(gq.sparse[0].rows == gf.sparse[0].rows);
  CHECK(gq.sparse[0].values == gf.sparse[0].values);
}

TEST_CASE("per_row scale lets rows grow past the global range", "[methods][quantized]") {
  // Global scale 0.01 saturates int8 at 1.27; a per-row scale follows the row.
  for (const char* spec : {"int8", "int8:scale_mode=per_row"}) {
    auto t = make_table(spec, {Schema{{4}, 2}, Budget{1}, 1});
    const std::vector<Index> ids = {1};
    const std::vector<float> dE = {-1.0f, 1.0f};
    const auto before = lookup(*t, ids);
    Gradients grads;
    Sgd sgd(1.0f);
    for (int i = 0; i < 5; ++i) {
      t->backward({ids.data(), 1, 1}, {dE.data(), 1, 2}, grads);
      sgd.step(grads);
    }
    const auto out = lookup(*t, ids);
    if (std::string(spec) == "int8") {
      CHECK(out[0] == Approx(1.27f));
    } else {
      // Each write rounds to a grid of about max|row| / 127 <= 0.05: five writes stay within 0.25.
      CHECK(out[0] == Approx(before[0] + 5.0f).margin(0.25));
      CHECK(out[1] == Approx(before[1] - 5.0f).margin(0.25));
    }
  }
}

TEST_CASE("quantized: a global scale or middle under scale_mode=per_row is refused",
          "[methods][quantized]") {
  const Schema s = small_schema();
  for (const char* spec : {"int8:scale_mode=per_row,scale=0.02", "int16:scale_mode=per_row,middle=1"}) {
    INFO(spec);
    CHECK_THROWS_WITH(make_table(spec, {s, Budget{1.5}, 1}), Catch::Contains("scale_mode=per_row"));
  }
  auto t = make_table("int8:scale_mode=per_row", {s, Budget{1.5}, 1});
  CHECK_NOTHROW(make_table(t->spec(), {s, Budget{1.5}, 1}));
}
