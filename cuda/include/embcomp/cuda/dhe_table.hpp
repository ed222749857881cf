// The CUDA twin of dhe (methods/dhe.hpp): every field's network (k hashes encoded by
// kernels::dhe_encode, then six Linear layers, the first five followed by BatchNorm and Mish) and
// the full fields' rows on the device. Shapes and input checks: device_table.hpp.
//
//   lookup      evaluation mode: BatchNorm with the running statistics (EmbeddingTable::lookup);
//   forward     the training forward: BatchNorm with the batch's statistics (a batch of one id:
//               the running ones), which it updates, as the CPU table's forward;
//   train_step  the exact gradient of the training forward of `ids` (that of the last forward
//               when it was given the same device ids, else recomputed without touching the
//               running statistics, as the CPU's backward after a lookup), then the optimizer:
//               every network parameter by element (a dense parameter), the full rows by run.
// Every check (ids, dE, the networks' gradients) runs before anything is written.
//
// The products are cuBLAS's (the CPU's GEMM in host mode); the BatchNorm statistics and their
// gradients sum rows in ascending order where the CPU's Eigen reductions are vectorised, and
// 1 / sqrt(v + eps) is exact where Eigen's rsqrt may refine an estimate: the values agree with
// the CPU's to fp32 rounding (tests/cuda/dhe_table_test.cpp states the tolerance), not bit for
// bit.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/kernels/dhe.hpp"

namespace embcomp::cuda {

class DheTable : public DeviceTable {
 public:
  /// One parameter of the CPU table in host memory.
  struct HostParameter {
    std::string name;
    Index rows = 0;
    Index width = 0;
    const float* values = nullptr;
    float lr_scale = 1.0f;
    bool optimized = true;  ///< false: updated by the method (the running statistics)
  };
  /// A dhe table in host memory.
  struct HostTables {
    Index dim = 0;
    Index hashes = 0;  ///< k
    Index hidden = 0;  ///< H
    std::int64_t buckets = 2;
    kernels::DheEncoding encoding = kernels::DheEncoding::uniform;
    /// [F] field f's k hashes, empty for a field with a full table.
    std::vector<std::vector<kernels::UniversalHash>> field_hashes;
    std::vector<Index> full_base;           ///< [F] a full field's first row in "full"
    std::vector<HostParameter> parameters;  ///< the CPU table's, by its names
  };

  DheTable(std::string method, std::vector<Index> cardinalities, const HostTables& host);
  DheTable(DheTable&&) noexcept;
  DheTable& operator=(DheTable&&) noexcept;
  ~DheTable() override;
  /// A device copy of a CPU `dhe` table; InvalidArgument for another method.
  static DheTable mirror(const EmbeddingTable& table);

  // DeviceTable (device_table.hpp). Parameters as the CPU table's: "field<f>.layer<l>.weight"
  // and ".bias", "field<f>.norm<l>.gamma", ".beta" and ".running", and "full".
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void forward(const DeviceIds& ids, float* out) override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

 private:
  struct Networks;  ///< the layers, parameters and scratch (dhe_table.cu)
  /// out [B*F x d] for checked ids: every network (BatchNorm with the batch's or the running
  /// statistics) and the full rows.
  void embed(const DeviceIds& ids, float* out, bool batch_statistics, bool update_running) const;

  Index dim_;
  std::unique_ptr<Networks> networks_;
};

}  // namespace embcomp::cuda
