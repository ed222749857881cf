// KeptRows (methods/kept_rows.hpp): lookup and backward against a dense reference (kept rows
// padded with zeros, zeros for pruned ids), in every set encoding, and damaged layouts rejected.
#include <catch2/catch.hpp>

#include <deque>
#include <vector>

#include "embcomp/kernels/row_map.hpp"
#include "embcomp/methods/kept_rows.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// Field 0 (n 300) keeps every third id at width 3 (a bitset), field 1 (n 20) its first 6 ids
/// at width 4 = d (a prefix), field 2 (n 9) nothing at width 1, field 3 (n 1000) 5 ids at
/// width 2 (sorted).
struct Fixture {
  Schema schema{{300, 20, 9, 1000}, 4};
  IndexArray<KeptField> layout;
  IndexArray<std::uint32_t> ids;
  IndexArray<std::uint64_t> words;
  IndexArray<std::uint32_t> ranks;
  std::deque<Parameter> params;
  KeptRows kept{layout, ids, words, ranks, make_rows()};
  std::vector<std::vector<std::uint32_t>> members{{}, {0, 1, 2, 3, 4, 5}, {}, {7, 100, 501, 502, 999}};
  std::vector<Index> widths{3, 4, 1, 2};

  std::vector<Parameter*> make_rows() {
    std::vector<Parameter*> out;
    for (int f = 0; f < 4; ++f) {
      out.push_back(&params.emplace_back(std::string("f").append(std::to_string(f)), 1, 1, ParamKind::rows, CodecSpec{},
                                         ParamTraits{ParamRole::trained, 1.0f, true}));
    }
    return out;
  }

  Fixture() {
    for (std::uint32_t i = 0; i < 300; i += 3) members[0].push_back(i);
    kept.clear();
    for (Index f = 0; f < 4; ++f) {
      kept.assign(schema.cardinalities[f], members[f], widths[f]);
      const auto v = random_values(kept.rows(f).size(), static_cast<unsigned>(f + 1));
      std::copy(v.begin(), v.end(), kept.rows(f).data());
    }
  }

  /// The dense [n_f x d] embedding of field f, written out.
  std::vector<float> dense(Index f) const {
    std::vector<float> out(static_cast<std::size_t>(schema.cardinalities[f] * 4), 0.0f);
    for (std::size_t k = 0; k < members[f].size(); ++k) {
      for (Index c = 0; c < widths[f]; ++c) out[members[f][k] * 4 + c] = kept.rows(f).row(static_cast<Index>(k))[c];
    }
    return out;
  }
};

}  // namespace

TEST_CASE("kept rows: lookup and backward equal the dense reference", "[methods][kept_rows]") {
  Fixture fx;
  CHECK(static_cast<HotSet>(fx.kept.field(0).set) == HotSet::bitset);
  CHECK(static_cast<HotSet>(fx.kept.field(1).set) == HotSet::prefix);
  CHECK(static_cast<HotSet>(fx.kept.field(3).set) == HotSet::sorted);
  CHECK(fx.kept.field(2).kept == 0);
  CHECK(fx.kept.rows(2).rows() == 1);
  const auto ids = random_ids(fx.schema, 400, 3);
  const IdBatch batch = batch_of(ids, fx.schema);
  std::vector<float> out(ids.size() * 4);
  fx.kept.lookup(batch, {out.data(), batch.size(), 4});
  const auto dE = random_values(out.size(), 4);
  Gradients grads;
  fx.kept.backward(batch, {dE.data(), batch.size(), 4}, grads);
  for (Index f = 0; f < 4; ++f) {
    const std::vector<float> dense = fx.dense(f);
    std::vector<double> expected_grad(fx.kept.rows(f).size(), 0.0);
    for (std::size_t p = static_cast<std::size_t>(f); p < ids.size(); p += 4) {
      for (Index c = 0; c < 4; ++c) CHECK(out[p * 4 + c] == dense[ids[p] * 4 + c]);
      const Index r = fx.kept.row_of(f, ids[p]);
      if (r < 0) continue;
      for (Index c = 0; c < fx.widths[f]; ++c) expected_grad[r * fx.widths[f] + c] += dE[p * 4 + c];
    }
    const std::vector<double> got = densify(grads, &fx.kept.rows(f));
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected_grad[i]).margin(1e-5));
  }
  CHECK_NOTHROW(fx.kept.check(fx.schema.cardinalities, 4, "t"));
  CHECK(fx.kept.members(0, 300) == fx.members[0]);
  CHECK(fx.kept.members(3, 1000) == fx.members[3]);
}

TEST_CASE("kept rows: a bitset layout looks up as the sorted one", "[methods][kept_rows]") {
  // Every id of 6400 but the odd ones below 1000: a bitset (1200 B) beats 5900 sorted ids.
  IndexArray<KeptField> layout;
  IndexArray<std::uint32_t> ids;
  IndexArray<std::uint64_t> words;
  IndexArray<std::uint32_t> ranks;
  Parameter rows("r", 1, 1, ParamKind::rows, CodecSpec{}, ParamTraits{ParamRole::trained, 1.0f, true});
  KeptRows kept(layout, ids, words, ranks, {&rows});
  std::vector<std::uint32_t> members;
  for (std::uint32_t i = 0; i < 6400; ++i) {
    if (i >= 1000 || i % 2 == 0) members.push_back(i);
  }
  const double bytes = kept.assign(6400, members, 2);
  CHECK(static_cast<HotSet>(kept.field(0).set) == HotSet::bitset);
  CHECK(bytes == kept_field_bytes(6400, static_cast<Index>(members.size()), 2, HotSet::bitset));
  for (Index r = 0; r < rows.rows(); ++r) rows.row(r)[0] = static_cast<float>(r);
  for (std::uint32_t id : {0u, 1u, 2u, 999u, 1000u, 6399u}) {
    const auto at = std::lower_bound(members.begin(), members.end(), id);
    const bool member = at != members.end() && *at == id;
    CHECK(kept.row_of(0, id) == (member ? at - members.begin() : -1));
  }
}

TEST_CASE("kept rows: damaged layouts are rejected", "[methods][kept_rows]") {
  const auto rejected = [](auto edit) {
    Fixture fx;
    edit(fx);
    CHECK_THROWS_AS(fx.kept.check(fx.schema.cardinalities, 4, "t"), CheckpointError);
  };
  rejected([](Fixture& fx) { fx.layout[0].width = 5; });        // wider than d
  rejected([](Fixture& fx) { fx.layout[1].kept = 7; });         // more ids than rows
  rejected([](Fixture& fx) { fx.layout[3].set_offset = 1; });   // set past the stored ids
  rejected([](Fixture& fx) { fx.layout.values.pop_back(); });   // a field missing
}
