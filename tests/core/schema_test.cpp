#include <catch2/catch.hpp>

#include "embcomp/core/schema.hpp"

using namespace embcomp;

TEST_CASE("schema totals, offsets and full bytes", "[core][schema]") {
  const Schema s{{10, 3, 7}, 16};
  CHECK(s.num_fields() == 3);
  CHECK(s.total_rows() == 20);
  CHECK(s.max_cardinality() == 10);
  CHECK(s.field_offset(0) == 0);
  CHECK(s.field_offset(2) == 13);
  CHECK(s.full_bytes() == 20.0 * 16 * 4);
  CHECK(Budget{4}.bytes(s) == 320.0);
}

TEST_CASE("invalid schemas and budgets are rejected", "[core][schema]") {
  CHECK_THROWS_AS((Schema{{}, 4}.validate()), InvalidArgument);
  CHECK_THROWS_WITH((Schema{{5, 0}, 4}.validate()), Catch::Contains("field 1"));
  CHECK_THROWS_AS((Schema{{5}, 0}.validate()), InvalidArgument);
  CHECK_THROWS_AS(Budget{0.5}.validate(), InvalidArgument);
  CHECK_THROWS_AS(Budget{std::nan("")}.validate(), InvalidArgument);
  CHECK_NOTHROW(Budget{1}.validate());
}
