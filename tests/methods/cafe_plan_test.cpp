// cafe's options and sizing (methods/cafe_plan.hpp), tested without building a table.
#include <catch2/catch.hpp>

#include <cmath>

#include "embcomp/methods/cafe_plan.hpp"

using namespace embcomp;

namespace {

CafeConfig parsed(const std::string& text, const TableArgs& args, bool multi_level = false) {
  std::vector<OptionInfo> info = cafe_option_info();
  if (multi_level) {
    info.push_back({"levels", "2", ""});
    info.push_back({"level_share", "0.3", ""});
    info.push_back({"level_ratio", "0.2", ""});
  }
  const Options options(multi_level ? "cafe-ml" : "cafe", info, text);
  CafeConfig c = parse_cafe_config(options, args, multi_level);
  options.require_all_read();
  return c;
}

}  // namespace

TEST_CASE("cafe plan: the layouts set the cold tables and the hash share and explicit options win",
          "[methods][cafe]") {
  const TableArgs args{Schema{{300000, 100000}, 8}, Budget{1000}, 1};
  const CafeConfig shared = parsed("", args);
  CHECK(shared.shared_hash_table);
  CHECK(shared.hash_share == CafeConfig::kSharedHashShare);
  CHECK(shared.threshold == cafe_schedule(1000).threshold);
  CHECK(shared.hash == kernels::HashKind::modulo);
  const CafeConfig reference = parsed("layout=reference", args);
  CHECK_FALSE(reference.shared_hash_table);
  CHECK(reference.hash_share == cafe_schedule(1000).hash_share);
  CHECK(reference.reference_layout);
  const CafeConfig mixed = parsed("layout=reference,hash_tables=shared,hash_share=0.4", args);
  CHECK(mixed.shared_hash_table);
  CHECK(mixed.hash_share == 0.4);
  CHECK(parsed("threshold=adaptive,half_life=20", args).half_life == 20);
  CHECK_THROWS_AS(parsed("half_life=20", args), InvalidArgument);
  CHECK_THROWS_AS(parsed("layout=paper", args), InvalidArgument);
  CHECK_THROWS_AS(parsed("hash_share=1", args), InvalidArgument);
  CHECK_THROWS_AS(parsed("levels=1", args, /*multi_level=*/true), InvalidArgument);
}

TEST_CASE("cafe plan: one shared cold table takes its share of the spare budget and hot rows the rest",
          "[methods][cafe]") {
  const Schema s{{200000, 50000, 3000, 1}, 16};  // the 1-id field stays full at 100x (<= 20)
  const TableArgs args{s, Budget{100}, 1};
  const CafeConfig c = parsed("", args);
  const CafePlan plan = plan_cafe(args, c);
  REQUIRE(plan.fields[3].full);
  const double row = 64, hot_cost = 64 + 4 * 12 + 4;
  const double budget = args.budget.bytes(s);
  const double spare = budget - (1 * row + 1 * row + hot_cost);  // full field, one cold row, one hot row
  const Index cold = 1 + static_cast<Index>(std::floor(c.hash_share * spare / row));
  for (Index f = 0; f < 3; ++f) {
    CHECK(plan.fields[f].base == plan.fields[0].base);
    CHECK(plan.fields[f].rows == cold);
  }
  CHECK(plan.table_rows == 1 + cold);
  CHECK(plan.hot_rows == static_cast<Index>(std::floor((budget - row - static_cast<double>(cold) * row) / hot_cost)));
  CHECK(static_cast<double>(plan.serving_bytes) <= budget);
  CHECK(static_cast<double>(plan.serving_bytes) > budget - hot_cost);
  // cafe-ml: level_share of the cold budget moves to the level-2 table.
  const CafePlan ml = plan_cafe(args, parsed("", args, /*multi_level=*/true));
  REQUIRE(ml.level_rows.size() == 1);
  CHECK(static_cast<double>(ml.level_rows[0]) == Approx(0.3 * c.hash_share * spare / row).margin(2));
  CHECK(static_cast<double>(ml.serving_bytes) <= budget);
}

TEST_CASE("cafe plan: the highest ratio fits and just beyond it is infeasible", "[methods][cafe]") {
  const Schema s{{5000, 700, 37, 3}, 8};
  for (const char* text : {"", "layout=reference", "sketch=per_field", "full_below=0"}) {
    INFO(text);
    const CafeConfig c = parsed(text, {s, Budget{10}, 1});
    const double top = cafe_highest_ratio(s, c);
    REQUIRE(top > 1.0);
    const TableArgs at{s, Budget{top * (1 - 1e-9)}, 1};
    CHECK(static_cast<double>(plan_cafe(at, parsed(text, at)).serving_bytes) <= at.budget.bytes(s));
    const TableArgs beyond{s, Budget{top * 1.01}, 1};
    CHECK_THROWS_AS(plan_cafe(beyond, parsed(text, beyond)), InfeasibleBudget);
  }
  // One shared cold table needs one row in all, per-field tables one per field: a higher limit.
  CHECK(cafe_highest_ratio(s, parsed("full_below=0", {s, Budget{10}, 1})) >
        cafe_highest_ratio(s, parsed("full_below=0,hash_tables=per_field", {s, Budget{10}, 1})));
}

TEST_CASE("cafe plan: a low ratio that keeps every small field full says why and what fits",
          "[methods][cafe]") {
  // full_below=auto keeps fields of at most 2000 / R ids full: at 4x all three (435 rows), more
  // than the budget; from 8x the 400-id field is compressed and the table fits.
  const Schema s{{400, 30, 5}, 8};
  const TableArgs low{s, Budget{4}, 1};
  const CafeConfig c = parsed("", low);
  const double top = cafe_highest_ratio(s, c);
  REQUIRE(top > 8.0);
  try {
    plan_cafe(low, c);
    FAIL("cafe at 4x planned a table larger than its budget");
  } catch (const InfeasibleBudget& e) {
    CHECK(e.limit_ratio() == top);
    const std::string message = e.what();
    CHECK(message.find("fields of at most 500 ids stay full") != std::string::npos);
    CHECK(message.find("need 13920 B") != std::string::npos);  // 435 rows x 8 x 4 B
    CHECK(message.find("a higher ratio keeps fewer fields full") != std::string::npos);
  }
  const TableArgs at8{s, Budget{8}, 1};
  CHECK(static_cast<double>(plan_cafe(at8, parsed("", at8)).serving_bytes) <= at8.budget.bytes(s));
  // A lower full_below compresses the small fields at 4x too.
  CHECK(static_cast<double>(plan_cafe(low, parsed("full_below=10", low)).serving_bytes) <=
        low.budget.bytes(s));
  // Beyond the highest ratio the usual message stays.
  const TableArgs beyond{s, Budget{top * 1.01}, 1};
  CHECK_THROWS_WITH(plan_cafe(beyond, parsed("", beyond)), Catch::Contains("smallest form needs"));
}
