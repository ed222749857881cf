// ProjectedFields (methods/projected_fields.hpp): lookup and backward against a plain
// reference, for fields with a projection and bias, with a projection only, and without.
#include <catch2/catch.hpp>

#include <deque>

#include "embcomp/methods/projected_fields.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// Field 0: rows [40 x 3], projection and bias; field 1: rows [9 x 2], projection only;
/// field 2: rows [25 x 4] (d = 4), no projection. Values from random_values.
struct Fixture {
  Schema schema{{40, 9, 25}, 4};
  std::deque<Parameter> params;
  ProjectedFields fields;

  Parameter& add(const std::string& name, Index rows, Index width, ParamKind kind) {
    return add_random_param(params, name, rows, width, kind);
  }

  Fixture() {
    fields.fields().push_back({&add("f0.rows", 40, 3, ParamKind::rows), &add("f0.p", 3, 4, ParamKind::dense),
                               &add("f0.b", 1, 4, ParamKind::dense)});
    fields.fields().push_back({&add("f1.rows", 9, 2, ParamKind::rows), &add("f1.p", 2, 4, ParamKind::dense), nullptr});
    fields.fields().push_back({&add("f2.rows", 25, 4, ParamKind::rows), nullptr, nullptr});
  }

  /// out[p] = rows[x] P + b, written out.
  std::vector<double> reference(const std::vector<Index>& ids) const {
    std::vector<double> out(ids.size() * 4, 0.0);
    for (std::size_t p = 0; p < ids.size(); ++p) {
      const ProjectedField& f = fields.fields()[p % 3];
      const float* e = f.rows->row(ids[p]);
      for (Index j = 0; j < 4; ++j) {
        double v = f.bias != nullptr ? f.bias->data()[j] : 0.0;
        if (f.projection == nullptr) {
          v += e[j];
        } else {
          for (Index i = 0; i < f.dim(); ++i) v += double{e[i]} * f.projection->row(i)[j];
        }
        out[p * 4 + j] = v;
      }
    }
    return out;
  }
};

}  // namespace

TEST_CASE("projected fields: lookup is rows times projection plus bias, field by field", "[methods][projected]") {
  Fixture fx;
  const auto ids = random_ids(fx.schema, 50, 3);
  std::vector<float> out(ids.size() * 4);
  fx.fields.lookup(batch_of(ids, fx.schema), {out.data(), static_cast<Index>(ids.size()), 4});
  const auto expected = fx.reference(ids);
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i] == Approx(expected[i]).margin(1e-5));
}

TEST_CASE("projected fields: backward is the gradient of sum(w . lookup), by finite differences",
          "[methods][projected]") {
  Fixture fx;
  const auto ids = random_ids(fx.schema, 30, 4);
  const auto w = random_values(ids.size() * 4, 5);
  const auto loss = [&] {
    const auto out = fx.reference(ids);
    double sum = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) sum += out[i] * w[i];
    return sum;
  };
  Gradients grads;
  fx.fields.backward(batch_of(ids, fx.schema), {w.data(), static_cast<Index>(ids.size()), 4}, grads);
  int checked = 0;
  for (Parameter& p : fx.params) {
    INFO(p.name());
    const auto analytic = densify(grads, &p);
    for (std::size_t e = 0; e < p.size(); ++e) {
      const float saved = p.data()[e];
      p.data()[e] = saved + 0.5f;
      const double up = loss();
      p.data()[e] = saved - 0.5f;
      const double down = loss();
      p.data()[e] = saved;
      CHECK(analytic[e] == Approx((up - down) / 1.0).margin(1e-4));  // linear: exact differences
      ++checked;
    }
  }
  CHECK(checked == 40 * 3 + 12 + 4 + 9 * 2 + 8 + 25 * 4);
}
