// The CUDA twin of per-field kept rows (methods/kept_rows.hpp; optembed after its search): field
// f keeps h_f of its n_f ids (a stored set: a prefix, a sorted list or a ranked bitset,
// kernels::hot_rank) and stores their rows R_f [max(h_f, 1) x w_f], every field's rows in one
// flat buffer (embcomp/cuda/field_layout.hpp):
//   out[p] = (R_f[rank(x)], 0, ..., 0) where id x of field f is kept, else 0;
//   dR_f[rank(x)] = the first w_f entries of dE[p], summed per kept id in ascending positions
//   (positions sorted by stacked row, CUB, stable); pruned ids get nothing.
// Rows, state and lookups equal the CPU's bit for bit. Shapes and input checks: device_table.hpp.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/cuda/field_layout.hpp"
#include "embcomp/kernels/row_map.hpp"

namespace embcomp {
class OptEmbedTable;
}

namespace embcomp::cuda {

class KeptRowsTable : public DeviceTable {
 public:
  /// One field in host memory: h_f kept ids in `set` (at `set_offset` of the sets' arrays), its
  /// rows [max(h_f, 1) x width].
  struct HostField {
    Index kept = 0;
    Index width = 1;
    kernels::HotSet set = kernels::HotSet::prefix;
    Index set_offset = 0;
    const float* values = nullptr;
  };
  /// Kept rows in host memory: every field, the sets' arrays, and the owning table's parameters
  /// that the kept rows leave untrained (optembed's emptied supernet), returned as they are.
  struct HostTables {
    Index dim = 0;
    std::vector<HostField> fields;
    std::span<const std::uint32_t> set_ids;
    std::span<const std::uint64_t> set_words;
    std::span<const std::uint32_t> set_ranks;
    float lr_scale = 1.0f;
    UntrainedParameters untrained;
  };

  KeptRowsTable(std::string method, std::vector<Index> cardinalities, const HostTables& host);
  /// A device copy of a CPU `optembed` table's kept rows; InvalidArgument while it searches
  /// (its supernet: cuda::OptEmbedTable::mirror).
  static KeptRowsTable mirror(const embcomp::OptEmbedTable& table);

  // DeviceTable (device_table.hpp). Parameters "field<f>.rows", and the untrained ones.
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

 private:
  /// Field f of parameter "field<f>.rows", or -1.
  Index field_of(const std::string& parameter) const;
  /// Field f's stored rows, max(h_f, 1).
  Index stored_rows(Index f) const;

  Index dim_;
  float lr_scale_;
  Index total_rows_ = 0;  ///< every field's stored rows
  std::vector<FieldLayout> layout_;
  DeviceArray<FieldLayout> device_layout_;
  DeviceArray<kernels::HotRows> hot_;
  DeviceArray<std::uint32_t> set_ids_, set_ranks_;
  DeviceArray<std::uint64_t> set_words_;
  DeviceArray<float> values_, state_;
  int state_slots_ = -1;
  bool state_by_row_ = false;  ///< the state is [slots] per row (row-wise Adagrad)
  UntrainedParameters untrained_;

  // Scratch, kept across calls so that steps do not allocate.
  SortedPositions order_;             ///< the step's positions by row
  DeviceArray<float> row_gradients_;  ///< a row rule's run gradients, [B*F x D]
};

}  // namespace embcomp::cuda
