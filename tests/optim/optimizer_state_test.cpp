// Optimizer::save_state / load_state: a round trip into fresh parameters continues
// bit-identically; mismatched, truncated or foreign state is refused and changes nothing.
#include <catch2/catch.hpp>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/rowwise_adagrad.hpp"
#include "embcomp/optim/sgd.hpp"

using namespace embcomp;

namespace {

/// A sparse [6 x 3] table and a dense [2 x 2] projection, with deterministic gradients.
struct Params {
  Parameter rows{"rows", 6, 3, ParamKind::rows};
  Parameter dense{"dense", 2, 2, ParamKind::dense};

  Params() {
    for (std::size_t i = 0; i < rows.size(); ++i) rows.data()[i] = 0.1f * static_cast<float>(i);
    for (std::size_t i = 0; i < dense.size(); ++i) dense.data()[i] = -0.2f * static_cast<float>(i);
  }
  std::vector<Parameter*> list() { return {&rows, &dense}; }
  std::vector<const Parameter*> const_list() const { return {&rows, &dense}; }

  /// Step `k`'s gradients: two of the table's rows and the whole projection.
  Gradients gradients(int k) {
    Gradients g;
    SparseGrad& s = g.sparse_for(rows, 2);
    s.rows = {k % 6, (k + 3) % 6};
    s.values = {0.5f, -1.0f * static_cast<float>(k), 0.25f, 1.0f, 0.0f, -0.5f};
    DenseGrad& d = g.dense_for(dense);
    d.values = {0.1f * static_cast<float>(k), -0.3f, 0.2f, 0.05f};
    return g;
  }
  std::vector<float> values() const {
    std::vector<float> v(rows.data(), rows.data() + rows.size());
    v.insert(v.end(), dense.data(), dense.data() + dense.size());
    return v;
  }
};

/// The bytes save_state writes for the parameters `list`.
std::string saved(const Optimizer& optimizer, const std::vector<const Parameter*>& list) {
  std::ostringstream out(std::ios::out | std::ios::binary);
  Writer w(out);
  optimizer.save_state(w, list);
  w.finish();
  return std::move(out).str();
}

std::string saved(const Optimizer& optimizer, const Params& params) {
  return saved(optimizer, params.const_list());
}

void load(Optimizer& optimizer, Params& params, const std::string& bytes) {
  std::istringstream in(bytes, std::ios::in | std::ios::binary);
  Reader r(in);
  optimizer.load_state(r, params.list());
  r.finish();
}

/// Steps `a` 3 times, copies its state into fresh parameters and a fresh `b`, steps both 3 more
/// times and requires identical values and state.
void require_round_trip(Optimizer& a, Optimizer& b) {
  Params pa;
  for (int k = 0; k < 3; ++k) a.step(pa.gradients(k));
  Params pb;
  std::copy_n(pa.rows.data(), pa.rows.size(), pb.rows.data());
  std::copy_n(pa.dense.data(), pa.dense.size(), pb.dense.data());
  load(b, pb, saved(a, pa));
  CHECK(b.steps() == 3);
  for (int k = 3; k < 6; ++k) {
    a.step(pa.gradients(k));
    b.step(pb.gradients(k));
  }
  CHECK(pa.values() == pb.values());
  CHECK(b.steps() == a.steps());
  if (a.slots() > 0) {
    REQUIRE(b.state(pb.rows) != nullptr);
    CHECK(*b.state(pb.rows) == *a.state(pa.rows));
    CHECK(*b.state(pb.dense) == *a.state(pa.dense));
  }
}

}  // namespace

TEST_CASE("optimizer state round trip: Adam continues bit-identically", "[optim][state]") {
  Adam a(0.01f), b(0.01f);
  require_round_trip(a, b);
}

TEST_CASE("optimizer state round trip: Adagrad, row-wise Adagrad and SGD", "[optim][state]") {
  SECTION("adagrad") {
    Adagrad a(0.1f), b(0.1f);
    require_round_trip(a, b);
  }
  SECTION("row-wise adagrad (a value per row)") {
    RowwiseAdagrad a(0.1f), b(0.1f);
    require_round_trip(a, b);
  }
  SECTION("sgd (the step count only)") {
    Sgd a(0.1f), b(0.1f);
    require_round_trip(a, b);
  }
}

TEST_CASE("optimizer state: parameters never updated have no state after loading",
          "[optim][state]") {
  Params p;
  Adam a(0.01f);
  Gradients g;
  g.dense_for(p.dense).values = {1.0f, 1.0f, 1.0f, 1.0f};
  a.step(g);
  Params fresh;
  Adam b(0.01f);
  load(b, fresh, saved(a, p));
  CHECK(b.state(fresh.rows) == nullptr);
  REQUIRE(b.state(fresh.dense) != nullptr);
  CHECK(*b.state(fresh.dense) == *a.state(p.dense));
}

TEST_CASE("optimizer state: mismatches and damage are refused and change nothing",
          "[optim][state]") {
  Params p;
  Adam adam(0.01f);
  for (int k = 0; k < 2; ++k) adam.step(p.gradients(k));
  const std::string bytes = saved(adam, p);

  // `target` must refuse `data` for `params` with a message containing `expected`, and keep
  // its one step of state.
  auto refused = [](Optimizer& target, Params& params, const std::string& data,
                    const std::string& expected) {
    const std::vector<float> before = *target.state(params.rows);
    std::istringstream in(data, std::ios::in | std::ios::binary);
    Reader r(in);
    CHECK_THROWS_WITH(target.load_state(r, params.list()), Catch::Contains(expected));
    CHECK(target.steps() == 1);
    CHECK(*target.state(params.rows) == before);
  };
  auto stepped_once = [](Optimizer& o, Params& params) { o.step(params.gradients(7)); };
  Params q;
  Adam other(0.01f);
  stepped_once(other, q);

  SECTION("another optimizer") {
    Params r;
    Adagrad adagrad(0.01f);
    stepped_once(adagrad, r);
    refused(adagrad, r, bytes, "optimizer state is of 'adam', this optimizer is 'adagrad'");
  }
  SECTION("row-wise state into element-wise Adagrad") {
    Params r, s;
    RowwiseAdagrad rowwise(0.01f);
    stepped_once(rowwise, s);
    Adagrad adagrad(0.01f);
    stepped_once(adagrad, r);
    refused(adagrad, r, saved(rowwise, s),
            "optimizer state is of 'rowwise_adagrad', this optimizer is 'adagrad'");
  }
  SECTION("another parameter name") {
    const Parameter renamed{"renamed", 6, 3, ParamKind::rows};
    refused(other, q, saved(adam, {&renamed, &p.dense}), "'renamed' where 'rows' was expected");
  }
  SECTION("another parameter size") {
    const Parameter bigger{"rows", 7, 3, ParamKind::rows};
    refused(other, q, saved(adam, {&bigger, &p.dense}), "optimizer state size of 'rows' is 21");
  }
  SECTION("another parameter count") {
    refused(other, q, saved(adam, {&p.rows}), "optimizer parameter count is 1");
  }
  SECTION("truncated") {
    for (std::size_t cut : {std::size_t{3}, bytes.size() / 2, bytes.size() - 12}) {
      INFO("cut at " << cut);
      refused(other, q, bytes.substr(0, cut), "truncated");
    }
  }
}
