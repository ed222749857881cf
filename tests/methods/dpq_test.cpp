// dpq: sizing from the budget (bit-packed codes counted), the training forward against a naive
// twin, the surrogate backward against its definition, and the codes + centroids serving form.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::unique_ptr<DpqTable> make_dpq(const std::string& options, double ratio,
                                   Schema schema = small_schema()) {
  return make_method<DpqTable>("dpq" + options, {schema, Budget{ratio}, 3});
}

const Parameter& param(const EmbeddingTable& t, const std::string& name) {
  for (const Parameter* p : t.parameters()) {
    if (p->name() == name) return *p;
  }
  FAIL("no parameter " << name);
  throw;
}

/// Naive nearest centroid of part j of q.
Index nearest(const PqLayout& l, const Parameter& centroids, const float* q, Index j) {
  Index best = 0;
  double best_distance = 1e300;
  for (Index k = 0; k < l.centroids; ++k) {
    double distance = 0.0;
    for (Index i = 0; i < l.part_width(); ++i) {
      const double diff = q[j * l.part_width() + i] - centroids.row(l.centroid_row(j, k))[i];
      distance += diff * diff;
    }
    if (distance < best_distance) best_distance = distance, best = k;
  }
  return best;
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
    const Schema& s = t->schema();
    const Parameter& query = param(*t, "query");
    const Parameter& centroids = param(*t, "centroids");
    const auto ids = random_ids(s, 16, 5);
    const IdBatch batch = batch_of(ids, s);
    std::vector<float> out(ids.size() * static_cast<std::size_t>(s.dim));
    t->forward(batch, {out.data(), batch.size(), s.dim});

    // Naive twin of forward and of the regulariser.
    const Index w = l.part_width();
    double squares = 0.0;
    std::vector<Index> assigned;
    for (Index p = 0; p < batch.size(); ++p) {
      const Index x = s.field_offset(batch.field_of(p)) + ids[static_cast<std::size_t>(p)];
      for (Index j = 0; j < l.parts; ++j) {
        const Index k = nearest(l, centroids, query.row(x), j);
        assigned.push_back(k);
        for (Index i = 0; i < w; ++i) {
          const float c = centroids.row(l.centroid_row(j, k))[i];
          REQUIRE(out[static_cast<std::size_t>(p * s.dim + j * w + i)] == c);
          squares += std::pow(c - query.row(x)[j * w + i], 2);
        }
      }
    }
    CHECK(t->auxiliary_loss() == Approx(squares / static_cast<double>(batch.size() * s.dim)));
    CHECK(lookup(*t, ids) == out);  // the codes were written

    // The surrogate: dQ rows are the summed dE; dC is the regulariser's gradient.
    const auto dE = random_values(out.size(), 8);
    Gradients grads;
    t->backward(batch, {dE.data(), batch.size(), s.dim}, grads);
    REQUIRE(grads.sparse.size() == 1);
    REQUIRE(grads.dense.size() == 1);
    std::vector<double> dQ(query.size(), 0.0), dC(centroids.size(), 0.0);
    for (Index p = 0; p < batch.size(); ++p) {
      const Index x = s.field_offset(batch.field_of(p)) + ids[static_cast<std::size_t>(p)];
      for (Index c = 0; c < s.dim; ++c) dQ[static_cast<std::size_t>(x * s.dim + c)] += dE[static_cast<std::size_t>(p * s.dim + c)];
      for (Index j = 0; j < l.parts; ++j) {
        const Index row = l.centroid_row(j, assigned[static_cast<std::size_t>(p * l.parts + j)]);
        for (Index i = 0; i < w; ++i) {
          dC[static_cast<std::size_t>(row * w + i)] +=
              2.0 * (centroids.row(row)[i] - query.row(x)[j * w + i]) / static_cast<double>(batch.size() * s.dim);
        }
      }
    }
    const SparseGrad& gq = grads.sparse[0];
    CHECK(gq.param == &query);
    for (Index i = 0; i < gq.count(); ++i) {
      for (Index c = 0; c < s.dim; ++c) {
        CHECK(gq.row(i)[c] == Approx(dQ[static_cast<std::size_t>(gq.rows[i] * s.dim + c)]).margin(1e-6));
      }
    }
    for (std::size_t e = 0; e < dC.size(); ++e) CHECK(grads.dense[0].values[e] == Approx(dC[e]).margin(1e-7));
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
