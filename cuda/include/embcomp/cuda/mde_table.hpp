// The CUDA twin of per-field projected rows (methods/projected_fields.hpp): mde's fields, and
// autodim's after its search. Every field's rows E_f [n_f x d_f] in one flat device buffer, every
// projection P_f [d_f x D] in another, every bias b_f [1 x D] in a third, and the CPU table's
// math element by element (kernels/mde.hpp):
//   out[p] = E_f[x] P_f + b_f   (mde: a projection only where d_f < D, no bias; autodim: both on
//                                every field, d_f = D included)
// Shapes and input checks: device_table.hpp.
//
// train_step computes every gradient from the parameters before the step, as the CPU's backward
// then optimizer do:
//   1. dP_f [d_f x D] = sum over the batch's samples b of E_f[x_bf]ᵀ dE[b*F+f], and db_f the sum
//      of dE[b*F+f], in ascending b, into buffers (they read the rows before they are updated);
//   2. the rows, fused: positions sorted by stacked row (CUB, stable), and the head of every run
//      sums dE P_fᵀ (or dE without a projection) over its positions in ascending order and
//      applies the rule (it reads the projections before they are updated);
//   3. the projections and biases from the buffers, every element stepped (dense parameters, as
//      on the CPU).
// Row-wise Adagrad, as the CPU's: step 2 buffers each run's gradient and then updates the row at
// once (its state one value per row); the projections and biases take element-wise Adagrad
// (update_element). The rows, the biases and the lookup equal the CPU's bit for bit. dP_f is a
// plain ascending sum; the CPU forms it with Eigen's GEMM, which sums the batch in the same order
// while the batch fits one of its depth blocks (the tests check equality at their sizes).
#pragma once

#include <string>
#include <vector>

#include "embcomp/cuda/device_table.hpp"
#include "embcomp/cuda/field_layout.hpp"

namespace embcomp::cuda {

class MdeTable : public DeviceTable {
 public:
  /// One field in host memory: E_f [rows x dim], P_f [dim x D] (required where dim < D, optional
  /// where dim = D) and b_f [1 x D] (optional, only with P_f).
  struct HostField {
    Index rows = 0;
    Index dim = 0;
    const float* values = nullptr;
    const float* projection = nullptr;
    const float* bias = nullptr;
  };
  /// Per-field projected rows in host memory, with the learning-rate scales of the rows,
  /// projections and biases.
  struct HostTables {
    Index dim = 0;
    std::vector<HostField> fields;
    float rows_lr_scale = 1.0f;
    float projection_lr_scale = 1.0f;
    float bias_lr_scale = 1.0f;
    /// The parameters' names: "" the CPU table's per field ("field<f>.rows", ".projection",
    /// ".bias"); a prefix p (autodim's candidate "search<w>") names every field's together, as
    /// one parameter each: "<p>.rows" [N x d_f], "<p>.weight" [F*d_f x D], "<p>.bias" [F x D].
    std::string stacked_names;
    /// The CPU table's parameters these fields leave untrained (autodim's search storage).
    UntrainedParameters untrained;
  };

  MdeTable(std::string method, const HostTables& host);

  /// A device copy of a CPU `mde` table, or of an `autodim` table past its search (its chosen
  /// fields); InvalidArgument for another method, an autodim table still searching, or for
  /// parameters whose learning-rate scales differ from field to field.
  static MdeTable mirror(const EmbeddingTable& table);

  // DeviceTable (device_table.hpp). Parameters "field<f>.rows" and, where the field has them,
  // "field<f>.projection" and "field<f>.bias" (or the stacked names); out[p] = E_f[ids[p]] P_f
  // + b_f; and the untrained ones.
  Index dim() const override { return dim_; }
  void lookup(const DeviceIds& ids, float* out) const override;
  void train_step(const DeviceIds& ids, const float* dE,
                  const DeviceOptimizer& optimizer) override;
  std::vector<float> rows_to_host(const std::string& parameter) const override;
  StateSpan state_span(const std::string& parameter) const override;
  void ensure_state(const DeviceOptimizer& optimizer) override;
  void copy_rows_to(EmbeddingTable& table) const override;

 private:
  /// A flat parameter buffer (every field's E_f, or every P_f) and its optimizer state.
  struct FlatParameter {
    DeviceArray<float> values;
    DeviceArray<float> state;
    int state_slots = -1;  ///< slots of the optimizer the state belongs to; -1 before a step
    float lr_scale = 1.0f;
  };
  /// The slice of `parameter`'s values (or state, for `slots` > 0) in a flat buffer.
  struct Slice {
    const FlatParameter* flat = nullptr;
    Index offset = 0;    ///< first float of the values
    Index size = 0;      ///< floats of the values
    Index row_base = 0;  ///< a field's rows: its first stacked row
    Index rows = 0;      ///< a field's rows: n_f
  };
  /// Whether field f has a projection (a bias).
  bool projected(Index f) const {
    return layout_[static_cast<std::size_t>(f)].projection_offset >= 0;
  }
  bool biased(Index f) const { return layout_[static_cast<std::size_t>(f)].bias_offset >= 0; }
  /// Rows of every field together.
  Index total_rows() const {
    return layout_.empty() ? 0 : layout_.back().row_base + cardinalities_.back();
  }
  Slice slice(const std::string& parameter) const;
  template <class Rule>
  void update(const Rule& rule, float lr, std::uint64_t step, const DeviceIds& ids,
              const float* dE);

  Index dim_;
  std::string stacked_names_;  ///< HostTables::stacked_names
  UntrainedParameters untrained_;
  std::vector<FieldLayout> layout_;
  DeviceArray<FieldLayout> device_layout_;
  FlatParameter rows_, projections_, biases_;

  // Scratch, kept across calls so that steps do not allocate.
  SortedPositions order_;                    ///< the step's positions by row
  DeviceArray<float> projection_gradients_;  ///< [sum of d_f D] in the projections' layout
  DeviceArray<float> bias_gradients_;        ///< in the biases' layout
  DeviceArray<float> row_gradients_;         ///< a row rule's run gradients, [B*F x D]
  bool rows_by_row_ = false;                 ///< the rows' state is by row (row-wise Adagrad)
};

}  // namespace embcomp::cuda
