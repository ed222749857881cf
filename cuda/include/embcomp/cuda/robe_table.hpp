// The CUDA twin of robe (methods/robe.hpp): the circular array M [S] on the device, every
// element of an embedding read through the CPU table's index math (kernels/robe.hpp:
// robe_location and robe_sign, which the CPU's robe_cells equals element by element), so both
// backends read the same cells with the same signs. Shapes and input checks: device_table.hpp.
//
// lookup, one thread per output element i = p*d + j:  out[i] = sign(x, f, j) * M[cell(x, f, j)]
// with x = offset_f + ids[p] the global id of position p in field f.
// train_step, over the B*F*d elements of a batch:
//   1. each element's cell as a sort key and its sign (ids and dE checked, the first bad one
//      recorded, nothing written after);
//   2. CUB's stable radix sort of (cell, i) by cell;
//   3. the head of every run of equal cells sums sign * dE over the run's elements in ascending
//      i (the CPU's order, so the same sum bit for bit) and the rule updates that cell and its
//      state. M's rows are its cells (a [S x 1] parameter, as on the CPU): the optimizers step
//      the touched cells only (lazy Adam), and row-wise Adagrad's row is one cell.
#pragma once

#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/kernels/robe.hpp"

namespace embcomp::cuda {

namespace detail {
struct RobeBatch;
}

class RobeTable : public DeviceTable {
 public:
  /// A robe array in host memory: S = hash.size cells, and where each field's global ids start.
  struct HostArray {
    kernels::RobeHash hash{};
    Index dim = 0;
    const float* cells = nullptr;  ///< [S]
    std::vector<Index> field_offsets;
    float lr_scale = 1.0f;  ///< the array's learning-rate scale, as on the CPU
  };

  RobeTable(std::string method, std::vector<Index> cardinalities, const HostArray& host);

  /// A device copy of a CPU `robe` table (any chunks, slot or not); InvalidArgument for another
  /// method.
  static RobeTable mirror(const EmbeddingTable& table);

  /// S: cells of the array.
  Index size() const { return array_.rows; }

  // DeviceTable (device_table.hpp). Its one parameter is "array" [S x 1].
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE, const DeviceOptimizer& optimizer) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

 private:
  /// What the kernels need to find the cells of `ids` and report a bad one.
  detail::RobeBatch robe_batch(const DeviceIds& ids) const;
  /// InvalidArgument unless the batch's B*F*d elements fit the sort's 31-bit positions.
  void check_elements(const DeviceIds& ids) const;
  template <class Rule>
  void update(const Rule& rule, float lr, std::uint64_t step, Index elements, const float* dE);

  Index dim_;
  kernels::RobeHash hash_;
  DeviceArray<Index> field_offsets_;
  DeviceRows array_;   ///< M as [S x 1]
  int cell_bits_ = 1;  ///< bits of the largest cell (the radix sort's key width)

  // Scratch, kept across calls so that steps do not allocate.
  DeviceArray<std::uint32_t> cells_, sorted_cells_;
  DeviceArray<std::int32_t> elements_, sorted_elements_;
  DeviceArray<float> signs_;
  DeviceArray<float> cell_gradients_;  ///< a row rule's run gradients
};

}  // namespace embcomp::cuda
