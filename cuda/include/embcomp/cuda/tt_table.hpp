// The CUDA twin of tt (methods/tt.hpp): the stacked cores core0, core1, core2, the full fields'
// rows and the cached rows on the device, each position routed by kernels::tt_route (the CPU
// table's route) and contracted element by element in the CPU's order (kernels/tt.hpp). Shapes
// and input checks: device_table.hpp.
//
// train_step computes every gradient from the parameters before the step, as the CPU's backward
// then optimizer do:
//   1. per position: T = G0 row @ G1 row, dT = g G2ᵀ, the position's dG2 row (Tᵀ g) and dG0
//      row (dT G1ᵀ), each element summed in the CPU's order (tt_first_product, tt_grad_t,
//      tt_add_grad_g2, tt_add_grad_g0);
//   2. the positions sorted five times (by core0, core1, core2, full and cache row);
//   3. core1's run gradients into a buffer: the run head accumulates G0[a, r1] dT[a, k] over its
//      positions and, within each, over a, into one sum (tt_add_grad_g1's order; it reads the
//      core0 rows before the step);
//   4. core1 from the buffer, core0 and core2 from the positions' rows summed over their runs,
//      full and cache rows from dE: each rule as the CPU optimizer applies it.
// The lookup and every row and state equal the CPU's bit for bit.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/kernels/tt.hpp"

namespace embcomp::cuda {

class TtTable : public DeviceTable {
 public:
  /// A tt table in host memory: its routing (tables, field offsets, cached keys) and its stacked
  /// parameters (rows 0 where the table has none).
  struct HostTables {
    Index dim = 0;
    bool shared = false;
    kernels::TtShape shape;  ///< of every compressed table
    std::vector<kernels::TtLayout> tables;
    std::vector<Index> offsets;     ///< [F] the fields' first global ids
    std::vector<Index> cache_keys;  ///< ascending global ids of the cached rows
    struct Part {
      Index rows = 0;
      Index width = 0;
      const float* values = nullptr;
      float lr_scale = 1.0f;
    };
    Part cores[3], full, cache;
  };

  TtTable(std::string method, std::vector<Index> cardinalities, const HostTables& host);
  /// A device copy of a CPU `tt` table; InvalidArgument for another method.
  static TtTable mirror(const EmbeddingTable& table);

  // DeviceTable (device_table.hpp). Parameters "core0", "core1", "core2", "full" and "cache"
  // (each only where the table has it).
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

  /// The parameter names, in the CPU table's order (those it has).
  std::vector<std::string> parameter_names() const;

 private:
  const DeviceRows& part(const std::string& parameter) const;
  DeviceRows& part(const std::string& parameter) {
    return const_cast<DeviceRows&>(std::as_const(*this).part(parameter));
  }
  template <class Rule>
  void update(const Rule& rule, float lr, std::uint64_t step, Index count, const float* dE);

  Index dim_;
  bool shared_;
  kernels::TtShape shape_;
  DeviceArray<kernels::TtLayout> tables_;
  DeviceArray<Index> offsets_;
  DeviceArray<Index> cache_keys_;
  Index cached_ = 0;
  DeviceRows cores_[3], full_, cache_;

  // Scratch, kept across calls so that steps do not allocate.
  static constexpr int kSorts = 5;  ///< core0, core1, core2, full, cache
  DeviceArray<std::uint32_t> keys_[kSorts], sorted_keys_[kSorts];
  DeviceArray<std::int32_t> positions_, sorted_positions_[kSorts];
  DeviceArray<float> t_, dt_, grad0_, grad2_;  ///< per position [B*F x scratch, w0, w2]
  DeviceArray<float> core1_gradients_;         ///< [B*F x w1], at run heads
  DeviceArray<float> row_gradients_;           ///< a row rule's run gradients
};

}  // namespace embcomp::cuda
