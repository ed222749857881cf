// The CUDA twin of deeplight (methods/deeplight.hpp) in its training stages: every field's rows
// stacked as in `full`, trained as cuda::GatherTable trains them, and pruned on the device when
// the CPU table's schedule calls for it (after_step): exactly the entries the CPU's
// kernels::prune_smallest zeroes (cuda/src/magnitude.cuh), so the rows stay equal bit for bit.
// The schedule and its state (the prune rate, the gate on best states) stay in the CPU table
// the twin mirrors, which must outlive it; finalize (the sparse serving rows) runs there, after
// copy_rows_to.
#pragma once

#include <utility>

#include "embcomp/cuda/gather_table.hpp"

namespace embcomp {
class DeepLightTable;
}

namespace embcomp::cuda {

class DeepLightTable : public GatherTable {
 public:
  /// The twin of a CPU deeplight table before finalize (InvalidArgument after it, or for
  /// another method); `table` keeps the schedule and must outlive the twin.
  static DeepLightTable mirror(embcomp::DeepLightTable& table);

  /// Prunes the device's rows as the CPU table's after_step prunes its own, and records the
  /// rate there.
  void after_step(const StepContext& ctx) override;

 private:
  DeepLightTable(GatherTable rows, embcomp::DeepLightTable& schedule)
      : GatherTable(std::move(rows)), schedule_(&schedule) {}
  /// Zeroes exactly `zeros` entries of the rows, as kernels::prune_smallest does.
  void prune(Index zeros);

  embcomp::DeepLightTable* schedule_;
  DeviceArray<unsigned long long> prune_counts_;  ///< the radix select's histograms
  DeviceArray<long long> prune_ties_;             ///< indices of entries tied at the threshold
};

}  // namespace embcomp::cuda
