// PrunedTable, the part pep and autosrh share: the budget's nonzeros, the keep mask of the
// largest entries, the masked gather and gradient, the serving form, and the mask in
// checkpoints; through the smallest method built on it (its training form is the plain table).
#include <catch2/catch.hpp>

#include <sstream>

#include "embcomp/data/cache.hpp"
#include "embcomp/kernels/magnitude.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/methods/pep.hpp"
#include "embcomp/methods/pruned_table.hpp"
#include "embcomp/table.hpp"
#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// Looks up the plain rows until masked; begin_stage(1) masks the largest entries.
class PlainPruned final : public PrunedTable {
 public:
  explicit PlainPruned(const TableArgs& args) : PrunedTable(args, "plain_pruned") {}
  std::vector<Stage> stages() const override { return {Stage{}, Stage{}}; }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    if (lookup_served(ids, out)) return;
    for (Index p = 0; p < ids.size(); ++p) {
      std::copy_n(rows().row(row_of(ids, p)), dim(), out.row(p));
    }
  }
  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    SparseGrad& g = summed_row_gradient(ids, dE, grads);
    if (masked()) mask_gradient(g);
  }
  void on_begin_stage(std::size_t index, const StageContext&) override {
    if (index == 1) keep_largest(served_values());
  }
  std::vector<float> served_values() const override {
    return {rows().data(), rows().data() + rows().size()};
  }
  void on_state_loaded() override { restore_roles(); }
};

std::vector<float> largest(std::vector<float> v, Index keep) {
  kernels::prune_smallest_reference(v.data(), static_cast<Index>(v.size()),
                                    static_cast<Index>(v.size()) - keep);
  return v;
}

}  // namespace

TEST_CASE("pruned table: the mask keeps the largest entries, and lookup, gradient and serving "
          "follow it",
          "[methods][pruned_table]") {
  PlainPruned t({small_schema(), Budget{8.0}, 5});
  const std::vector<float> dense = all_embeddings(t);
  const std::vector<float> expected = largest(dense, t.target_nonzeros());
  // Before a mask, the serving form is the values cut to the budget.
  CHECK(all_embeddings(*t.freeze()) == expected);
  CHECK(t.mask_nonzeros() == 0);

  t.begin_stage(1);
  CHECK(t.mask_nonzeros() == t.target_nonzeros());
  CHECK(all_embeddings(t) == expected);
  const auto ids = random_ids(t.schema(), 64, 2);
  const auto g = densify(backward_of(t, ids, std::vector<float>(ids.size() * t.dim(), 1.0f)),
                         param_named(t, "rows"));
  Index nonzero = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (expected[i] == 0.0f) REQUIRE(g[i] == 0.0);
    nonzero += g[i] != 0.0;
  }
  CHECK(nonzero > 0);

  // The mask is saved and loaded with the state.
  std::stringstream state;
  Writer out(state);
  t.save_state(out);
  PlainPruned copy({small_schema(), Budget{8.0}, 9});
  Reader in(state);
  copy.load_state(in);
  CHECK(copy.mask_nonzeros() == t.mask_nonzeros());
  CHECK(all_embeddings(copy) == expected);

  t.finalize();
  CHECK(all_embeddings(t) == expected);
  CHECK(static_cast<double>(t.memory().serving_bytes) <= t.budget().bytes(t.schema()));
}
