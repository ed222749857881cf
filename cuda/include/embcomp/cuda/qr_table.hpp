// The CUDA twin of qr (methods/qr.hpp): the stacked quotient, remainder and full tables on the
// device, the CPU table's row math (kernels/qr.hpp: QrField, qr_quotient_row, ...) and its
// combination and gradients element by element. Shapes and input checks: device_table.hpp.
//
// train_step sorts the batch's positions three times (by quotient row, by remainder row, by
// full row; a position that reads no row of a table sorts last and is skipped) and updates:
//   1. the remainder gradient of each run (dL/dr reads the quotient rows) summed into a buffer,
//   2. the quotient rows, fused (dL/dq reads the remainder rows, not yet updated),
//   3. the remainder rows from the buffer, and the full rows, fused,
// so every gradient is of the rows before the step, as on the CPU, and each sums its positions
// in ascending order: the result equals the CPU's bit for bit.
#pragma once

#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/kernels/qr.hpp"

namespace embcomp::cuda {

class QrTable : public DeviceTable {
 public:
  /// One stacked table in host memory ([rows x width]; rows 0 where the table has none).
  struct HostPart {
    Index rows = 0;
    Index width = 0;
    const float* values = nullptr;
    float lr_scale = 1.0f;
  };
  /// A qr table in host memory: its plan and its three stacked tables.
  struct HostTables {
    kernels::QrOp op = kernels::QrOp::mul;
    Index collisions = 1;
    Index dim = 0;
    std::vector<kernels::QrField> fields;
    HostPart quotient, remainder, full;
  };

  QrTable(std::string method, std::vector<Index> cardinalities, const HostTables& host);

  /// A device copy of a CPU `qr` table; InvalidArgument for another method.
  static QrTable mirror(const EmbeddingTable& table);

  // DeviceTable (device_table.hpp). Parameters "quotient", "remainder" and "full" (empty where
  // the table has none); out[p] combines the quotient and remainder rows of ids[p], or is its
  // full row.
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE,
                  const DeviceOptimizer& optimizer) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

 private:
  const DeviceRows& part(const std::string& parameter) const;
  template <kernels::QrOp Op, class Rule>
  void update(const Rule& rule, float lr, std::uint64_t step, Index count, const float* dE);

  kernels::QrOp op_;
  Index collisions_;
  Index dim_;
  DeviceArray<kernels::QrField> fields_;
  DeviceRows quotient_, remainder_, full_;

  // Scratch, kept across calls so that steps do not allocate.
  DeviceArray<std::uint32_t> keys_[3], sorted_keys_[3];  ///< by quotient, remainder, full row
  DeviceArray<std::int32_t> positions_, sorted_positions_[3];
  DeviceArray<float> remainder_gradients_;  ///< [B*F x wr], at run heads
  DeviceArray<float> row_gradients_;  ///< a row rule's run gradients (quotient, then full rows)
};

}  // namespace embcomp::cuda
