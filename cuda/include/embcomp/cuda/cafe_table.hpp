// The CUDA twin of cafe and cafe-ml (methods/cafe.hpp): the embedding rows on the device, the
// routing on the host. The CPU table keeps its HotSketch and routes each batch (a sketch query
// per position: a hash-table probe that the host does as fast as it copies the answer); the
// device holds the level-1 rows and the hot rows as one flat table [table_rows + H x d] (a hot
// row h is flat row table_rows + h, as in the CPU table's primary rows), the level tables of
// cafe-ml, and their optimizer state. Shapes and input checks: device_table.hpp.
//
// lookup: the ids come to the host, the CPU table routes them, and one kernel sums each
// position's primary row and its extra level rows (in level order, as the CPU).
//
// train_step, as the CPU's backward, optimizer step and after_step:
//   1. on the host: the routes of the batch (the sketches as they are before the step);
//   2. on the device: ||dE_p|| per position (kernels::l2_norm, the CPU's function) and the
//      NaN/Inf check; the primary rows sorted and updated fused (update_runs_kernel over the flat
//      table); each extra level likewise;
//   3. on the host: the norms come back and the CPU table inserts them into its sketches
//      (CafeTable::insert_importance), which names the promotions;
//   4. on the device: every promoted feature's embedding (its rows after the update, all read
//      before any is written) is copied into its new hot row, and its optimizer state row moves
//      along in promotion order, as the CPU's migration does.
// The rows, state, sketch and promotions equal the CPU's bit for bit.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"

namespace embcomp::cuda {

namespace detail {
class CafeRouter;
}

class CafeTable : public DeviceTable {
 public:
  /// A device twin of `table`, a CPU cafe or cafe-ml table (InvalidArgument otherwise), which
  /// keeps routing: it must outlive this table, and its sketches change with every step (its
  /// rows do not, until copy_rows_to). InvalidArgument where its tables' learning-rate scales
  /// differ.
  static CafeTable mirror(EmbeddingTable& table);
  ~CafeTable() override;
  CafeTable(CafeTable&&) noexcept;
  CafeTable& operator=(CafeTable&&) noexcept;

  // DeviceTable (device_table.hpp). Parameters "rows", "hot" and "level<l>"; the ids are read
  // on the host to route them, and a step ends with the sketch inserts and the promotions (see
  // the top of this file). copy_rows_to leaves the CPU table's sketches as they are: they are
  // already the device's.
  Index dim() const override;
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE,
                  const DeviceOptimizer& optimizer) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

 private:
  explicit CafeTable(detail::CafeRouter router);
  /// A parameter's place on the device: the table holding it and its first row there.
  struct Part {
    const DeviceRows* table = nullptr;
    Index first = 0;
    Index rows = 0;
  };
  Part part(const std::string& parameter) const;
  /// Routes the batch on the host and uploads its keys (primary, then each extra level).
  void route(const DeviceIds& ids) const;
  template <class Rule>
  void update(const Rule& rule, float lr, std::uint64_t step, Index count, const float* dE);
  template <class Rule>
  void migrate(const Rule& rule, Index count);

  std::unique_ptr<detail::CafeRouter> router_;
  DeviceRows primary_;              ///< "rows" then "hot": hot row h is flat row table_rows + h
  std::vector<DeviceRows> levels_;  ///< "level2" .. "level<L>"

  // Scratch, kept across calls so that steps do not allocate.
  mutable std::vector<Index> host_ids_;
  mutable std::vector<std::uint32_t> host_keys_;
  mutable DeviceArray<std::uint32_t> keys_;  ///< [(1 + levels) x B*F]: primary, then each level
  DeviceArray<std::uint32_t> sorted_keys_;
  DeviceArray<std::int32_t> positions_, sorted_positions_;
  DeviceArray<float> norms_;
  std::vector<float> host_norms_;
  std::vector<std::int32_t> sources_, destinations_;
  DeviceArray<std::int32_t> promotions_;  ///< [2 x P]: source positions, then flat hot rows
  DeviceArray<float> migration_;          ///< [P x d]
  DeviceArray<float> row_gradients_;      ///< a row rule's run gradients, one table at a time
};

}  // namespace embcomp::cuda
