// dpq: sizing from the budget (bit-packed codes counted), the training forward against a naive
// twin, the surrogate backward against its definition, and the codes + centroids serving form.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "embcomp/methods/dpq.hpp"
#include "embcomp/serving/pq_table.hpp"
#include "pq_reference.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::unique_ptr<DpqTable> make_dpq(const std::string& options, double ratio,
                                   Schema schema = small_schema()) {
  return make_method<DpqTable>("dpq" + options, {schema, Budget{ratio}, 3});
}

}  // namespace

TEST_CASE("dpq: parts=auto takes the most parts whose packed codes and centroids fit",
          "[methods][dpq]") {
  const Schema schema = small_schema();  // 1293 rows, d = 8
  // K = 32: 5-bit codes. D = 8: 1293 x 8 x 5 bits = 809 words = 6472 B, + 32 x 8 x 4 B.
  CHECK(make_dpq("", 1.0)->layout().parts == 8);
  CHECK(PqLayout{8, 32, false, 8}.bytes(1293) == 6472 + 1024);
  // 8x: 5172 B; D = 4: 405 words = 3240 B + 1024 B fits.
  CHECK(make_dpq("", 8.0)->layout().parts == 4);
  for (double ratio : {1.0, 3.0, 8.0, 20.0}) {
    const auto t = make_dpq("", ratio);
    CHECK(static_cast<double>(t->memory().serving_bytes) == t->layout().bytes(schema.total_rows()));
    CHECK(static_cast<double>(t->memory().serving_bytes) <= Budget{ratio}.bytes(schema));
  }
  CHECK_THROWS_AS(make_dpq("", 100.0), InfeasibleBudget);
  CHECK_THROWS_AS(make_dpq(":parts=3", 1.0), InvalidArgument);
  CHECK_THROWS_AS(make_dpq(":centroids=1", 1.0), InvalidArgument);
}

TEST_CASE("dpq: forward picks the nearest centroids and writes the codes, backward is the "
          "straight-through surrogate",
          "[methods][dpq]") {
  for (const std::string options : {"", ":shared=true", ":parts=2,centroids=4"}) {
    INFO("options " << options);
    auto t = make_dpq(options, 3.0);
    const PqLayout& l = t->layout();
    const PqForwardRun run = run_forward(*t, 16);
    const auto centroid_row = [&l](Index j, Index k) { return l.centroid_row(j, k); };
    const auto expected = naive_pq_forward(*param_named(*t, "query"), *param_named(*t, "centroids"), run.rows,
                                           l.parts, centroid_row, [&l](std::size_t) { return l.centroids; });
    CHECK(run.out == expected.out);
    CHECK(t->auxiliary_loss() == Approx(expected.regulariser));
    CHECK(lookup(*t, run.ids) == run.out);  // the codes were written
    // The surrogate: dQ rows are the summed dE; dC is the regulariser's gradient.
    check_surrogate_backward(*t, run, expected, l.parts, centroid_row);
  }
}

TEST_CASE("dpq: the serving form is the codes and centroids, and loads as itself", "[methods][dpq]") {
  auto t = make_dpq("", 3.0);
  Adam adam(0.01f);
  const PlantedTask task(t->schema(), 7);
  LinearProbe probe(task, 128);
  probe.train(*t, adam, 30);
  auto frozen = t->freeze();
  CHECK(frozen->spec() == "pq:of=dpq,parts=" + std::to_string(t->layout().parts) +
                              ",centroids=32,shared=false");
  const auto ids = random_ids(t->schema(), 32, 2);
  CHECK(lookup(*frozen, ids) == lookup(*t, ids));
  CHECK(frozen->memory().serving_bytes == t->memory().serving_bytes);
  // The query table is training-only: not in the serving bytes.
  CHECK(t->memory().parameter_bytes > t->memory().serving_bytes);
  std::stringstream file;
  frozen->save(file);
  auto loaded = load_table(file);
  CHECK(dynamic_cast<PqServingTable*>(loaded.get()) != nullptr);
  CHECK(lookup(*loaded, ids) == lookup(*t, ids));
}
