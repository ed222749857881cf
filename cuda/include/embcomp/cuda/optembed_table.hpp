// The CUDA twin of optembed's supernet (methods/optembed.hpp, its first stage): every field's
// rows E [N x d] stacked as in `full` and one threshold t_f per field. Position p of field f
// reads row r with x = |E[r]|_1 - t_f and m = step(x) (kernels/magnitude.hpp):
//   lookup    out[p] = m E[r]
//   forward   out[p] = m E[r] on its mask's first k_p + 1 entries (kernels::supernet_mask_width,
//             counter-based on the supernet steps taken), zeros after
//   step      the CPU's surrogate gradients from the parameters before the step: dE summed per
//             row over its positions (ascending, positions sorted by row, CUB, stable) as
//             kernels::supernet_entry_gradient, the rows stepped by the optimizer; and
//             dt_f = -alpha exp(-t_f) - the slopes of field f's positions in ascending order,
//             kept for after_step
//   after     t_f -= threshold_lr dt_f (the thresholds' own SGD), one more supernet step
// auxiliary_loss() is the regulariser alpha sum_f exp(-t_f). The search and the retrain are
// other twins' work: the CPU table searches on the host, and its kept rows are mirrored as a
// cuda::KeptRowsTable. Rows, thresholds, state and lookups equal the CPU's bit for bit. Shapes
// and input checks: device_table.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/cuda/device_table.hpp"

namespace embcomp {
class OptEmbedTable;
}

namespace embcomp::cuda {

class OptEmbedTable : public DeviceTable {
 public:
  /// The supernet in host memory.
  struct HostSupernet {
    Index rows = 0;
    Index dim = 0;
    const float* values = nullptr;  ///< E [rows x dim]
    float lr_scale = 1.0f;
    std::vector<Index> offsets;         ///< [F] field f's first row
    const float* thresholds = nullptr;  ///< t [F]
    double alpha = 0.0;
    float threshold_lr = 0.0f;
    std::uint64_t seed = 0;  ///< the table's (the masks' stream)
    std::uint64_t supernet_steps = 0;
    /// The CPU table's parameters the supernet leaves untrained (its kept rows' [1 x 1]
    /// placeholders), returned as they are.
    UntrainedParameters untrained;
  };

  OptEmbedTable(std::string method, std::vector<Index> cardinalities, const HostSupernet& host);
  /// A device copy of a CPU `optembed` table's supernet; InvalidArgument once it has searched
  /// (its kept rows: cuda::KeptRowsTable::mirror).
  static OptEmbedTable mirror(const embcomp::OptEmbedTable& table);
  OptEmbedTable(OptEmbedTable&&) noexcept;
  OptEmbedTable& operator=(OptEmbedTable&&) noexcept;
  ~OptEmbedTable() override;

  // DeviceTable (device_table.hpp). Parameters "rows", "threshold" (stepped by after_step, no
  // optimizer state) and the untrained ones.
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void forward(const DeviceIds& ids, float* out) override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  void after_step(const StepContext& ctx) override;
  double auxiliary_loss() const override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

  /// Supernet steps taken (the masks' counter).
  std::uint64_t supernet_steps() const { return supernet_steps_; }

 private:
  struct Parts;  ///< the rows, thresholds and scratch (optembed_table.cu)
  void embed(const DeviceIds& ids, float* out, bool training) const;

  Index dim_;
  double alpha_;
  float threshold_lr_;
  std::uint64_t seed_;
  std::uint64_t supernet_steps_;
  std::unique_ptr<Parts> parts_;
  UntrainedParameters untrained_;
};

}  // namespace embcomp::cuda
