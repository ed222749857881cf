// The CUDA twin of autosrh (methods/autosrh.hpp) in its training stages: every field's rows E
// [N x d] stacked as in `full`, the frequency group g(r) of every row and the groups' weights
// alpha [G x d], then, from the retrain on (order=prune_first), the CPU table's keep mask.
//   lookup    e = E[r] * alpha[g(r)]; under the mask e = E[r] where kept, 0 elsewhere
//   step      dE summed per row over its positions (ascending; positions sorted by row, CUB,
//             stable), times alpha[g(r)] (under the mask: zeroed where masked), as the CPU
//   search    (the stage that feeds validation batches) on_validation_batch: the group's
//             gradient sum over its positions of dE E[r] (ascending), plus alpha_l1 where
//             alpha > 0, normalised by its mean magnitude, and alpha <- clip(alpha - alpha_lr
//             grad, 0, 1)
// Mirror it again after a stage change on the CPU table, which folds alpha and builds the mask
// on the host. Rows, alpha and state equal the CPU's bit for bit. Shapes and input checks:
// device_table.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"

namespace embcomp {
class AutoSrhTable;
}

namespace embcomp::cuda {

class AutoSrhTable : public DeviceTable {
 public:
  /// An autosrh table in host memory.
  struct HostTables {
    Index rows = 0;
    Index dim = 0;
    const float* values = nullptr;  ///< E [rows x dim]
    float lr_scale = 1.0f;
    std::vector<Index> offsets;  ///< [F] field f's first row
    Index groups = 1;
    const float* alpha = nullptr;         ///< [groups x dim]
    std::span<const std::uint8_t> group;  ///< [rows] each row's group
    float alpha_l1 = 0.0f;
    float alpha_lr = 0.0f;
    bool searching = false;           ///< validation batches step alpha
    std::vector<std::uint64_t> mask;  ///< ceil(rows dim / 64) words, or empty: no mask yet
  };

  AutoSrhTable(std::string method, std::vector<Index> cardinalities, const HostTables& host);
  /// A device copy of a CPU `autosrh` table before finalize (InvalidArgument after it).
  static AutoSrhTable mirror(const embcomp::AutoSrhTable& table);
  AutoSrhTable(AutoSrhTable&&) noexcept;
  AutoSrhTable& operator=(AutoSrhTable&&) noexcept;
  ~AutoSrhTable() override;

  // DeviceTable (device_table.hpp). Parameters "rows" and "alpha" (stepped by validation
  // batches, no optimizer state).
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  bool takes_validation_batches() const override;
  void on_validation_batch(const DeviceIds& ids, const float* dE) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

 private:
  struct Parts;  ///< the rows, weights, groups, mask and scratch (autosrh_table.cu)

  Index dim_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace embcomp::cuda
