// KeptRowsServingTable (serving/kept_rows_table.hpp): built from kept rows, it looks up as they
// do, refuses backward, and round-trips as a frozen checkpoint that loads as this form.
#include <catch2/catch.hpp>

#include <deque>
#include <sstream>

#include "embcomp/methods/kept_rows.hpp"
#include "embcomp/serving/kept_rows_table.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

TEST_CASE("kept_rows serving form: lookups of its source, no backward, frozen checkpoints",
          "[serving][kept_rows]") {
  const Schema schema{{500, 30, 4}, 8};
  IndexArray<KeptField> layout;
  IndexArray<std::uint32_t> ids, ranks;
  IndexArray<std::uint64_t> words;
  std::deque<Parameter> params;
  std::vector<Parameter*> rows;
  for (int f = 0; f < 3; ++f) {
    rows.push_back(&params.emplace_back(std::string("f").append(std::to_string(f)), 1, 1, ParamKind::rows, CodecSpec{},
                                        ParamTraits{ParamRole::trained, 1.0f, true}));
  }
  KeptRows source(layout, ids, words, ranks, rows);
  std::vector<std::uint32_t> every_fifth, scattered{2, 17, 29};
  for (std::uint32_t i = 0; i < 500; i += 5) every_fifth.push_back(i);
  const std::vector<std::vector<std::uint32_t>> members{every_fifth, scattered, {}};
  const std::vector<Index> widths{5, 8, 2};
  for (Index f = 0; f < 3; ++f) {
    source.assign(schema.cardinalities[f], members[f], widths[f]);
    const auto v = random_values(source.rows(f).size(), static_cast<unsigned>(f + 1));
    std::copy(v.begin(), v.end(), source.rows(f).data());
  }
  const TableArgs args{schema, Budget{1.0}, 1};
  KeptRowsServingTable form(args, source, "optembed");
  CHECK(form.spec() == "kept_rows:of=optembed");
  CHECK(form.frozen());
  const auto batch_ids = random_ids(schema, 300, 2);
  const IdBatch batch = batch_of(batch_ids, schema);
  std::vector<float> expected(batch_ids.size() * 8);
  source.lookup(batch, {expected.data(), batch.size(), 8});
  const auto got = lookup(form, batch_ids);
  CHECK(got == expected);
  int nonzero_rows = 0;
  for (std::size_t p = 0; p < batch_ids.size(); ++p) nonzero_rows += got[p * 8] != 0.0f;
  CHECK(nonzero_rows > 30);  // about a fifth of field 0's and a tenth of field 1's positions
  std::vector<float> dE(got.size(), 1.0f);
  Gradients grads;
  CHECK_THROWS_AS(form.backward(batch, {dE.data(), batch.size(), 8}, grads), Error);  // frozen: lookup-only
  // Every byte it holds is served: rows, layout, the sets.
  const MemoryReport m = form.memory();
  double bytes = 0.0;
  for (Index f = 0; f < 3; ++f) {
    bytes += kept_field_bytes(schema.cardinalities[f], static_cast<Index>(members[f].size()), widths[f],
                              cheapest_id_set(schema.cardinalities[f], members[f]));
  }
  CHECK(static_cast<double>(m.serving_bytes) == bytes);
  std::stringstream file;
  form.freeze()->save(file);
  auto loaded = load_table(file);
  REQUIRE(dynamic_cast<KeptRowsServingTable*>(loaded.get()) != nullptr);
  CHECK(lookup(*loaded, batch_ids) == expected);
}
