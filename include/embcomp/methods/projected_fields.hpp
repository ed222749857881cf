// Per-field row tables lifted to the output width D, written once for the methods that keep
// them (mde; autodim after its search). Field f has rows E_f [n_f x d_f] and, when d_f < D or
// the method always projects, a projection P_f [d_f x D] with an optional bias b_f [1 x D]:
//   out[p] = E_f[x] P_f + b_f     (E_f[x] alone without a projection; d_f == D then)
// Backward, field by field: dE_f rows = dE P_fᵀ summed per unique row, dP_f = E_f[x]ᵀ dE over the
// field's positions, db_f = the sum of dE over them.
#pragma once

#include <algorithm>
#include <vector>

#include <Eigen/Core>

#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/mde.hpp"
#include "embcomp/kernels/row_groups.hpp"

namespace embcomp {

/// One field's storage; the pointers are the owning table's registered parameters.
struct ProjectedField {
  Parameter* rows = nullptr;        ///< E_f [n_f x d_f]
  Parameter* projection = nullptr;  ///< P_f [d_f x D], or null (then d_f == D)
  Parameter* bias = nullptr;        ///< b_f [1 x D], or null; only with a projection
  Index dim() const { return rows->width(); }
};

class ProjectedFields {
 public:
  std::vector<ProjectedField>& fields() { return fields_; }
  const std::vector<ProjectedField>& fields() const { return fields_; }

  /// out[B*F x D] for ids[B x F]; thread-safe.
  void lookup(const IdBatch& ids, Matrix out) const {
    const Index D = out.cols;
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      const ProjectedField& f = fields_[static_cast<std::size_t>(ids.field_of(p))];
      const float* e = f.rows->row(ids[p]);
      float* o = out.row(p);
      if (f.projection == nullptr) {
        std::copy_n(e, D, o);
        continue;
      }
      kernels::mde_project(e, f.dim(), f.projection->data(), D, o);
      if (f.bias != nullptr) {
        for (Index j = 0; j < D; ++j) o[j] += f.bias->data()[j];
      }
    }
  }

  /// Gradients of every field's parameters for dE[B*F x D].
  void backward(const IdBatch& ids, ConstMatrix dE, Gradients& grads) {
    const Index F = ids.fields, D = dE.cols;
    field_ids_.resize(static_cast<std::size_t>(ids.batch));
    for (Index f = 0; f < F; ++f) {
      const ProjectedField& field = fields_[static_cast<std::size_t>(f)];
      for (Index b = 0; b < ids.batch; ++b) field_ids_[b] = ids[b * F + f];
      const auto grad_out = [&](Index b) { return dE.row(b * F + f); };
      scatter_param_grad(*field.rows, field_ids_, groups_, grads, [&](Index b, float* acc) {
        if (field.projection != nullptr) {
          kernels::mde_project_back(field.projection->data(), field.dim(), D, grad_out(b), acc);
        } else {
          for (Index j = 0; j < D; ++j) acc[j] += grad_out(b)[j];
        }
      });
      if (field.projection != nullptr) projection_grad(field, f, F, dE, grads);
    }
  }

 private:
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  /// dP_f [d_f x D] = G_fᵀ dE_f and db_f [1 x D] = 1ᵀ dE_f (samples ascending): G_f [B x d_f] the
  /// rows field f's positions read (field_ids_), dE_f [B x D] field f's rows of dE (rows f, f + F,
  /// ...).
  void projection_grad(const ProjectedField& field, Index f, Index fields, ConstMatrix dE,
                       Gradients& grads) {
    const Index batch = static_cast<Index>(field_ids_.size()), D = dE.cols;
    gathered_.resize(static_cast<std::size_t>(batch * field.dim()));
    gather_param_rows(*field.rows, batch, [&](Index b) { return field_ids_[b]; }, gathered_.data());
    const Eigen::Map<const RowMajor> rows_read(gathered_.data(), batch, field.dim());
    const Eigen::Map<const RowMajor, 0, Eigen::OuterStride<>> field_dE(
        dE.data + f * D, batch, D, Eigen::OuterStride<>(fields * D));
    Eigen::Map<RowMajor> dP(grads.dense_for(*field.projection).values.data(), field.dim(), D);
    dP.noalias() = rows_read.transpose() * field_dE;
    if (field.bias != nullptr) {  // samples in ascending order, as the CUDA twin sums them
      float* db = grads.dense_for(*field.bias).values.data();
      std::fill_n(db, D, 0.0f);
      for (Index b = 0; b < batch; ++b) {
        for (Index j = 0; j < D; ++j) db[j] += field_dE(b, j);
      }
    }
  }

  std::vector<ProjectedField> fields_;
  // backward scratch, reused from batch to batch
  std::vector<Index> field_ids_;  ///< id read by field f at sample b
  std::vector<float> gathered_;   ///< [B x d_f] rows read by field f
  kernels::RowGroups groups_;
};

}  // namespace embcomp
