// The straight-through training shared by dpq and mgqe (methods/pq_training.hpp), through a
// minimal twin: codes kept unpacked, each row limited to a number of candidate centroids that
// varies by row (all K, or the first few), against the naive forward and the surrogate
// gradients by their definition (pq_reference.hpp); dpq_test and mgqe_test cover the methods.
#include <catch2/catch.hpp>

#include "embcomp/methods/pq_training.hpp"
#include "pq_reference.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

/// D = 2 parts of K = 6 centroids each (stride K); row x may take the first 6 - x % 4.
class PqTwin final : public StraightThroughPq {
 public:
  static constexpr Index kParts = 2, kCentroids = 6;
  explicit PqTwin(const TableArgs& args)
      : StraightThroughPq(args, kParts, kParts * kCentroids, kCentroids),
        codes_(static_cast<std::size_t>(args.schema.total_rows() * kParts), 0) {
    assign_all_codes();
  }
  static Index limit(Index row) { return kCentroids - row % 4; }
  std::uint32_t code(Index row, Index j) const { return codes_[static_cast<std::size_t>(row * kParts + j)]; }

 protected:
  void lookup_impl(const IdBatch&, Matrix) const override {}
  Index candidates(Index /*field*/, Index row) const override { return limit(row); }
  void store_code(Index /*field*/, Index row, Index j, std::uint32_t k) override {
    codes_[static_cast<std::size_t>(row * kParts + j)] = k;
  }

 private:
  std::vector<std::uint32_t> codes_;
};

}  // namespace

TEST_CASE("pq training: forward, stored codes and the surrogate backward against naive twins",
          "[methods][dpq]") {
  const Schema schema = small_schema();
  PqTwin t({schema, Budget{1.0}, 4});
  const PqForwardRun run = run_forward(t, 24);
  const auto centroid_row = [](Index j, Index k) { return j * PqTwin::kCentroids + k; };
  const auto expected = naive_pq_forward(*param_named(t, "query"), *param_named(t, "centroids"), run.rows,
                                         PqTwin::kParts, centroid_row,
                                         [&run](std::size_t p) { return PqTwin::limit(run.rows[p]); });
  CHECK(run.out == expected.out);
  CHECK(t.auxiliary_loss() == Approx(expected.regulariser));
  // The codes of a row read twice are those of its last position (the same assignment).
  for (std::size_t p = 0; p < run.rows.size(); ++p) {
    for (Index j = 0; j < PqTwin::kParts; ++j) {
      const Index k = expected.assigned[p * PqTwin::kParts + static_cast<std::size_t>(j)];
      CHECK(t.code(run.rows[p], j) == static_cast<std::uint32_t>(k));
      CHECK(k < PqTwin::limit(run.rows[p]));
    }
  }
  check_surrogate_backward(t, run, expected, PqTwin::kParts, centroid_row);
}
