#include <catch2/catch.hpp>

#include <cmath>

#include "embcomp/data/planted.hpp"
#include "embcomp/data/schemas.hpp"

using namespace embcomp;

TEST_CASE("planted effects are standard normal", "[data][planted]") {
  const PlantedTask task(Schema{{200000}, 4}, 3);
  double sum = 0, sq = 0;
  const int n = 200000;
  for (Index i = 0; i < n; ++i) {
    const double e = task.effect(0, i);
    sum += e;
    sq += e * e;
  }
  CHECK(sum / n == Approx(0.0).margin(5.0 / std::sqrt(n)));
  CHECK(sq / n == Approx(1.0).margin(5.0 * std::sqrt(2.0 / n)));
}

TEST_CASE("planted samples are deterministic, in range, and labelled by their effects", "[data][planted]") {
  const Schema schema{{50, 7, 1000}, 4};
  const PlantedTask task(schema, 11);
  std::vector<Index> ids, ids_again;
  std::vector<float> labels, labels_again;
  task.sample(4096, 5, ids, labels);
  task.sample(4096, 5, ids_again, labels_again);
  CHECK(ids == ids_again);
  CHECK(labels == labels_again);
  for (std::size_t p = 0; p < ids.size(); ++p) {
    REQUIRE(ids[p] >= 0);
    REQUIRE(ids[p] < schema.cardinalities[p % 3]);
  }
  // Mean label equals the mean planted probability within 5 standard errors.
  double expected = 0, observed = 0;
  for (Index b = 0; b < 4096; ++b) {
    float logit = 0;
    for (Index f = 0; f < 3; ++f) logit += task.effect(f, ids[b * 3 + f]);
    expected += 1.0 / (1.0 + std::exp(-logit));
    observed += labels[b];
  }
  CHECK(observed / 4096 == Approx(expected / 4096).margin(5 * 0.5 / std::sqrt(4096.0)));
}

TEST_CASE("the oracle AUC is well above chance", "[data][planted]") {
  const PlantedTask task(Schema{{100, 100, 100}, 4}, 1);
  // Logit ~ N(0, 3): sorting by the true logit separates the classes clearly.
  CHECK(task.oracle_auc(512) > 0.75);
}

TEST_CASE("the Criteo Kaggle schema has the reference's 33,762,577 ids", "[data][schemas]") {
  const Schema s = criteo_kaggle_schema();
  CHECK(s.num_fields() == 26);
  CHECK(s.total_rows() == 33762577);
  CHECK(s.max_cardinality() == 10131227);
}
