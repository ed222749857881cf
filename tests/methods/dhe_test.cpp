#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "embcomp/data/schemas.hpp"
#include "embcomp/kernels/dhe.hpp"
#include "embcomp/methods/dhe.hpp"
#include "nn/gradient_check.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

__extension__ typedef __int128 Wide;  // exact products of hash constants and ids

/// The encoding of id x by one hash, from the spec's formula in 128-bit arithmetic.
double naive_unit(const kernels::UniversalHash& h, std::int64_t m, Index x) {
  const Wide v = (static_cast<Wide>(h.a) * x + h.b) % h.p % m;
  return static_cast<double>(v) / static_cast<double>(m - 1);
}

double mish(double x) { return x * std::tanh(std::log1p(std::exp(x))); }

/// Eval-mode output of field f's network for id x, in double, from the registered parameters.
std::vector<double> naive_network(const EmbeddingTable& t, Index f, Index k, std::int64_t m,
                                  const std::vector<kernels::UniversalHash>& hashes, Index x) {
  std::vector<double> h(static_cast<std::size_t>(k));
  for (Index i = 0; i < k; ++i) h[i] = 2.0 * naive_unit(hashes[i], m, x) - 1.0;
  const std::string field = "field" + std::to_string(f);
  for (Index l = 0; l <= DheTable::kHiddenLayers; ++l) {
    const Parameter* w = param_named(t, field + ".layer" + std::to_string(l) + ".weight");
    const Parameter* b = param_named(t, field + ".layer" + std::to_string(l) + ".bias");
    REQUIRE(w != nullptr);
    std::vector<double> y(static_cast<std::size_t>(w->width()));
    for (Index c = 0; c < w->width(); ++c) {
      y[c] = b->row(0)[c];
      for (Index r = 0; r < w->rows(); ++r) y[c] += h[r] * w->row(r)[c];
    }
    if (l < DheTable::kHiddenLayers) {
      const std::string norm = field + ".norm" + std::to_string(l);
      const Parameter* gamma = param_named(t, norm + ".gamma");
      const Parameter* beta = param_named(t, norm + ".beta");
      const Parameter* running = param_named(t, norm + ".running");
      for (Index c = 0; c < w->width(); ++c) {
        const double normed = (y[c] - running->row(0)[c]) / std::sqrt(double{running->row(1)[c]} + 1e-5);
        y[c] = mish(normed * gamma->row(0)[c] + beta->row(0)[c]);
      }
    }
    h = y;
  }
  return h;
}

}  // namespace

TEST_CASE("dhe: widths on the Criteo Kaggle schema are the spec's", "[methods][dhe]") {
  // Spec §4 (b), computed at cr = 0.5/0.1/0.01/0.001 with the reference's count: H =
  // 3626/1372/271/29 with 4/5/8/14 DHE fields. Counting every served float (the last bias as
  // d, BatchNorm's running statistics) can only make H smaller.
  const Schema criteo = criteo_kaggle_schema();
  struct Case {
    double ratio;
    Index hidden, networks;
  };
  for (const Case& c : {Case{2, 3626, 4}, Case{10, 1372, 5}, Case{100, 271, 8}, Case{1000, 29, 14}}) {
    INFO("ratio " << c.ratio);
    const DhePlan reference = DheTable::plan(criteo, Budget{c.ratio}, 0, 1024, DheCount::reference);
    CHECK(reference.hidden == c.hidden);
    CHECK(std::count(reference.network.begin(), reference.network.end(), true) == c.networks);
    const DhePlan served = DheTable::plan(criteo, Budget{c.ratio}, 0, 1024);
    CHECK(served.hidden <= c.hidden);
    CHECK(served.hidden >= c.hidden * 9 / 10);
    CHECK(static_cast<double>(served.bytes()) <= Budget{c.ratio}.bytes(criteo));
  }
  // One network of H = 1 takes (k + 1) + 4 * 2 + 2 d + 20 floats; ratios beyond are infeasible.
  CHECK(DheTable::network_floats(1024, 1, 16) == 1025 + 8 + 32 + 20);
  CHECK_THROWS_AS(DheTable::plan(criteo, Budget{1e5}, 0, 1024), InfeasibleBudget);
}

TEST_CASE("dhe: the hash encoding follows the spec's formula", "[methods][dhe]") {
  const std::int64_t m = 1'000'000;
  const auto hashes = kernels::make_universal_hashes(42, 64, m);
  for (const auto& h : hashes) {
    CHECK((h.a >= 1 && h.a < m && h.b >= 1 && h.b < m && h.p >= m));
    for (std::int64_t q = 2; q * q <= h.p; ++q) REQUIRE(h.p % q != 0);  // p is prime
  }
  std::vector<float> uniform(64), normal(64), fast(64);
  const kernels::FastUniversalHashes doubles(hashes, m);
  CHECK(kernels::FastUniversalHashes::fits_fast(m, (Index{1} << 31) - 1));
  CHECK_FALSE(kernels::FastUniversalHashes::fits_fast(Index{1} << 30, Index{1} << 30));
  for (Index x : {Index{0}, Index{7}, Index{10'131'226}, (Index{1} << 31) - 1}) {
    kernels::dhe_encode(hashes.data(), 64, m, kernels::DheEncoding::uniform, x, uniform.data());
    kernels::dhe_encode_uniform_fast(doubles, x, fast.data());
    for (Index i = 0; i < 64; ++i) CHECK(fast[i] == Approx(uniform[i]).margin(1e-7));
    kernels::dhe_encode(hashes.data(), 64, m, kernels::DheEncoding::normal, x, normal.data());
    for (Index i = 0; i < 64; ++i) {
      CHECK(uniform[i] == Approx(2.0 * naive_unit(hashes[i], m, x) - 1.0).margin(1e-6));
      CHECK((uniform[i] >= -1.0f && uniform[i] <= 1.0f));
    }
    for (Index i = 0; i < 64; i += 2) {
      const double r = std::sqrt(-2.0 * std::log(std::max(naive_unit(hashes[i], m, x), 1e-12)));
      const double angle = 2 * M_PI * naive_unit(hashes[i + 1], m, x);
      CHECK(normal[i] == Approx(r * std::cos(angle)).margin(1e-4));
      CHECK(normal[i + 1] == Approx(r * std::sin(angle)).margin(1e-4));
    }
  }
}

TEST_CASE("dhe: exact_mod is v mod p for every v < 2^52", "[methods][dhe]") {
  std::mt19937_64 rng(3);
  for (std::int64_t p : {std::int64_t{1}, std::int64_t{2}, std::int64_t{997}, std::int64_t{1'000'003},
                         std::int64_t{2'147'483'647}}) {
    const double pd = static_cast<double>(p), inv = 1.0 / pd;
    for (int i = 0; i < 20000; ++i) {
      const std::int64_t v = static_cast<std::int64_t>(rng() >> 12);  // < 2^52
      REQUIRE(kernels::exact_mod(static_cast<double>(v), pd, inv) == static_cast<double>(v % p));
    }
    for (std::int64_t v : {std::int64_t{0}, p - 1, p, p + 1, (std::int64_t{1} << 52) - 1}) {
      REQUIRE(kernels::exact_mod(static_cast<double>(v), pd, inv) == static_cast<double>(v % p));
    }
  }
}

TEST_CASE("dhe: lookup is the eval-mode network of each field, per id", "[methods][dhe]") {
  const Schema s = small_schema();  // {1000, 37, 5, 250, 1}
  auto table = make_method<DheTable>("dhe:hashes=24,buckets=5000", {s, Budget{3}, 2});
  CHECK(table->hidden() > 1);
  CHECK(table->sizing().network == std::vector<bool>{true, false, false, true, false});
  // Running statistics away from their initial (0, 1): a few training forwards.
  for (unsigned i = 0; i < 5; ++i) train_forward(*table, random_ids(s, 64, 30 + i));
  const auto ids = random_ids(s, 40, 3);
  const auto out = lookup(*table, ids);
  const Index F = s.num_fields(), d = s.dim;
  for (Index f : {Index{0}, Index{3}}) {
    const auto hashes = kernels::make_universal_hashes(kernels::combine(2, 0xd4e0ULL + static_cast<std::uint64_t>(f)), 24, 5000);
    for (Index b = 0; b < 40; ++b) {
      const auto expected = naive_network(*table, f, 24, 5000, hashes, ids[b * F + f]);
      for (Index k = 0; k < d; ++k) CHECK(out[(b * F + f) * d + k] == Approx(expected[k]).epsilon(1e-3).margin(1e-5));
    }
  }
  // The full fields read their rows.
  const Parameter* full = param_named(*table, "full");
  REQUIRE(full != nullptr);
  CHECK(full->rows() == 37 + 5 + 1);
  CHECK(out[(0 * F + 1) * d] == full->row(ids[1])[0]);
  CHECK(static_cast<double>(table->memory().parameter_bytes) <= Budget{3}.bytes(s));
  CHECK(static_cast<double>(table->memory().parameter_bytes) == static_cast<double>(table->sizing().bytes()));
}

TEST_CASE("dhe: backward is the gradient of the training forward, by finite differences",
          "[methods][dhe]") {
  const Schema s{{500, 9, 300}, 4};
  for (const std::string spec : {"dhe:hashes=12,buckets=997", "dhe:hashes=12,buckets=997,encoding=normal"}) {
    INFO("spec " << spec);
    auto table = make_method<DheTable>(spec, {s, Budget{2}, 4});
    REQUIRE(table->sizing().network[0]);
    // Values of order one everywhere: the init's tiny weights put BatchNorm's scale invariance
    // (curvature ~ 1 / |W|^2) within any finite-difference step.
    unsigned seed = 20;
    for (Parameter* p : table->parameters()) {
      if (p->role() != ParamRole::trained || p->kind() != ParamKind::dense) continue;
      const auto v = random_values(p->size(), ++seed);
      std::copy(v.begin(), v.end(), p->data());
    }
    const auto ids = random_ids(s, 16, 8);
    const auto w = random_values(ids.size() * 4, 9);
    const auto loss = [&] {
      const auto out = train_forward(*table, ids);
      double sum = 0;
      for (std::size_t i = 0; i < out.size(); ++i) sum += double{out[i]} * w[i];
      return sum;
    };
    loss();
    Gradients grads;
    table->backward(batch_of(ids, s), {w.data(), static_cast<Index>(ids.size()), 4}, grads);
    int checked = 0;
    for (Parameter* p : table->parameters()) {
      if (p->kind() != ParamKind::dense || !p->optimized()) continue;
      const auto analytic = test::gradient_of(grads, *p);
      const bool before_norm = p->name().find(".bias") != std::string::npos &&
                               p->name().find(".layer5.") == std::string::npos;
      if (before_norm) {
        // BatchNorm subtracts the batch mean: a bias just before it has no effect at all.
        for (float g : analytic) CHECK(std::fabs(g) < 1e-4f);
      } else {
        check_gradient(p->name(), {p->data(), p->size()}, analytic, loss, 1e-2f, 12);
      }
      ++checked;
    }
    CHECK(checked == 2 * (6 * 2 + 5 * 2));  // two networks: 6 weights and biases, 5 scales and shifts
    // The running statistics are never stepped: they have no gradient.
    for (const auto& g : grads.dense) CHECK(g.param->role() == ParamRole::trained);
  }
}

TEST_CASE("dhe: backward after a lookup recomputes the training forward and keeps the running statistics",
          "[methods][dhe]") {
  const Schema s = small_schema();
  auto a = make_table("dhe:hashes=16", {s, Budget{3}, 6});
  auto b = make_table("dhe:hashes=16", {s, Budget{3}, 6});
  const auto ids = random_ids(s, 32, 1);
  const auto dE = random_values(ids.size() * 8, 2);
  train_forward(*a, ids);
  Gradients ga, gb;
  a->backward(batch_of(ids, s), {dE.data(), static_cast<Index>(ids.size()), 8}, ga);
  train_forward(*b, ids);
  const auto before = lookup(*b, ids);
  train_forward(*b, random_ids(s, 32, 2));  // other ids: b's caches no longer match
  // ... so backward recomputes; the second forward moved b's running statistics, and the
  // recomputation must not move them again.
  const auto after_other = lookup(*b, ids);
  b->backward(batch_of(ids, s), {dE.data(), static_cast<Index>(ids.size()), 8}, gb);
  CHECK(lookup(*b, ids) == after_other);
  CHECK(before != after_other);
  REQUIRE(ga.dense.size() == gb.dense.size());
  for (std::size_t i = 0; i < ga.dense.size(); ++i) {
    INFO(ga.dense[i].param->name());
    // Same batch statistics and parameters: the same gradients, bit for bit.
    CHECK(ga.dense[i].values == gb.dense[i].values);
  }
}

TEST_CASE("dhe: a batch of one id uses the running statistics, and bad options are errors", "[methods][dhe]") {
  const Schema s = small_schema();
  auto table = make_table("dhe:hashes=16", {s, Budget{3}, 6});
  const auto ids = random_ids(s, 1, 5);
  CHECK(train_forward(*table, ids) == lookup(*table, ids));
  CHECK_THROWS_WITH(make_table("dhe:encoding=normal,hashes=15", {s, Budget{3}, 1}), Catch::Contains("must be even"));
  CHECK_THROWS_AS(make_table("dhe:hashes=0", {s, Budget{3}, 1}), InvalidArgument);
  CHECK_THROWS_AS(make_table("dhe:buckets=1", {s, Budget{3}, 1}), InvalidArgument);
}
