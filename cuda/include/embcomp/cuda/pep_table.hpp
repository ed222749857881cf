// The CUDA twin of pep (methods/pep.hpp) in either training stage: every field's rows v stacked
// as in `full`, and
//   prune    its thresholds s (one per entry, row, column, or one for all): e = sign(v)
//            max(|v| - sigmoid(s), 0) (kernels::soft_threshold); the twin's after_step hands the
//            rows and thresholds to the CPU table, which measures the sparsity when the trainer
//            validates next (its stage ends by it);
//   retrain  the keep mask of the CPU table: e = v where kept, 0 elsewhere; masked entries get
//            no gradient.
// Mirror it again after the stage change on the CPU table (as dedup's twin). Shapes and input
// checks: device_table.hpp.
//
// A pruning step computes every gradient from the parameters before the step, in the CPU's
// order: dE summed per row over its positions (ascending), zeroed where the entry is inactive
// (!(|v| > t)), and each active entry's threshold term -sign(v) t (1 - t) g; the per-entry and
// per-row thresholds sum it over their row's columns, the per-column and the global ones over
// the rows in the order of their first position in the batch (the CPU's RowGroups order), then
// every parameter is stepped. Rows, thresholds and state equal the CPU's bit for bit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"

namespace embcomp {
class PepTable;
}

namespace embcomp::cuda {

class PepTable : public DeviceTable {
 public:
  /// What one threshold covers: an entry, a row, a column, every entry (PepThreshold).
  enum class Threshold : std::uint8_t { entry, row, column, global };

  /// A pep table in host memory: rows [N x d], the field offsets, and the thresholds (pruning)
  /// or the keep mask (retrain, ceil(N d / 64) words).
  struct HostTables {
    Index rows = 0;
    Index dim = 0;
    const float* values = nullptr;
    float lr_scale = 1.0f;
    std::vector<Index> offsets;  ///< [F] field f's first row
    bool pruning = true;
    Threshold threshold = Threshold::entry;
    /// [N x d], [N x 1], [1 x d] or [1 x 1] by `threshold`; in the retrain, the [1 x 1] the CPU
    /// table keeps (unused, never stepped)
    const float* thresholds = nullptr;
    float threshold_lr_scale = 1.0f;
    std::vector<std::uint64_t> mask;
  };

  /// `schedule` is the CPU table the pruning stage's sparsity is measured by (null: none).
  PepTable(std::string method, std::vector<Index> cardinalities, const HostTables& host,
           embcomp::PepTable* schedule);
  /// A device copy of a CPU `pep` table before finalize (InvalidArgument after it, or for another
  /// method); `table` keeps the sparsity the pruning stage ends by, and must outlive the twin.
  static PepTable mirror(embcomp::PepTable& table);
  PepTable(PepTable&&) noexcept;
  PepTable& operator=(PepTable&&) noexcept;
  ~PepTable() override;

  // DeviceTable (device_table.hpp). Parameters "rows" and "threshold" (in the retrain the CPU
  // table's unused [1 x 1], kept as it is).
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  void after_step(const StepContext& ctx) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

  bool pruning() const;

 private:
  struct Parts;  ///< the rows, thresholds or mask, and scratch (pep_table.cu)
  template <class Rule>
  void prune_update(const Rule& rule, float lr, std::uint64_t step, Index count, const float* dE);

  Index dim_;
  std::unique_ptr<Parts> parts_;
  embcomp::PepTable* schedule_;
};

}  // namespace embcomp::cuda
