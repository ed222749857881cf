// CafeRouting (methods/cafe_routing.hpp) on its own: cold routes before any insert (full
// fields read their own row, compressed fields their hash row), promotion by importance inserts
// (the promoted id then routes to its hot row, and the promotion names its batch position),
// route_at giving back what a batch was routed with, and the version counting the changes.
#include <catch2/catch.hpp>

#include "embcomp/methods/cafe_plan.hpp"
#include "embcomp/methods/cafe_routing.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

struct Fixture {
  TableArgs args{Schema{{5000, 3000, 6}, 8}, Budget{20}, 3};
  CafeConfig config = parse_cafe_config(Options("cafe", cafe_option_info(), ""), args, false);
  CafePlan plan = plan_cafe(args, config);
  CafeRouting routing{config, plan, 3};
};

}  // namespace

TEST_CASE("cafe routing: before any insert every id is cold on its hash row, full fields on their own",
          "[methods][cafe]") {
  Fixture fx;
  REQUIRE_FALSE(fx.plan.fields[0].full);
  REQUIRE(fx.plan.fields[2].full);
  for (Index f = 0; f < 3; ++f) {
    const CafePlan::Field& field = fx.plan.fields[f];
    for (Index id = 0; id < fx.args.schema.cardinalities[f]; id += 7) {
      const CafeRouting::Route r = fx.routing.route(f, id);
      CHECK(r.hot == -1);
      CHECK(r.levels == 1);
      CHECK(r.row[0] == fx.routing.hash_row_of(f, id));
      CHECK(r.row[0] >= field.base);
      CHECK(r.row[0] < field.base + field.rows);
      if (field.full) CHECK(r.row[0] == field.base + id);
      CHECK_FALSE(fx.routing.query(f, id).hot());
    }
  }
}

TEST_CASE("cafe routing: an id that takes all the importance is promoted to a hot row", "[methods][cafe]") {
  Fixture fx;
  const Index batch = 64, fields = 3, id = 1234;
  CafeRouting::Routes routes;
  routes.gids.resize(static_cast<std::size_t>(batch * fields));
  routes.primary.resize(routes.gids.size());
  routes.levels.assign(routes.gids.size(), 1);
  for (Index b = 0; b < batch; ++b) {
    for (Index f = 0; f < fields; ++f) {
      const Index local = f == 0 && b == 5 ? id : (b * 31 + f) % fx.args.schema.cardinalities[f];
      routes.gids[b * fields + f] = fx.routing.gid(fx.plan.fields[f], local);
      routes.primary[b * fields + f] = fx.routing.hash_row_of(f, local);
    }
  }
  std::vector<float> norms(routes.gids.size(), 0.0f);
  norms[5 * fields + 0] = 1.0f;  // field 0's whole importance on position 5
  for (Index f = 1; f < fields; ++f) norms[f] = 1.0f;
  CHECK(fx.routing.route_at(routes, 5 * fields).row[0] == fx.routing.hash_row_of(0, id));
  std::vector<CafeRouting::Promotion> promoted;
  for (int insert = 0; insert < 1000 && promoted.empty(); ++insert) {
    const std::uint64_t version = fx.routing.version();
    const auto& p = fx.routing.insert_importance(routes, norms.data(), batch, fields);
    CHECK(fx.routing.version() == version + 1);
    for (const auto& one : p) {
      if (one.position == 5 * fields) promoted.push_back(one);
    }
  }
  REQUIRE(promoted.size() == 1);
  CHECK(fx.routing.promotions().size() >= 1);
  const CafeRouting::Route r = fx.routing.route(0, id);
  CHECK(r.hot == promoted[0].hot);
  CHECK(r.levels == 0);
  CHECK(fx.routing.query(0, id).hot());
  // A full field never enters a sketch.
  CHECK_FALSE(fx.routing.query(2, 0).hot());
  const std::uint64_t version = fx.routing.version();
  fx.routing.sketches_replaced();  // a loaded checkpoint: routes found before are stale
  CHECK(fx.routing.version() == version + 1);
}
