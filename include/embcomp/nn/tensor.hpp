// What every nn/ layer shares: Eigen maps over row-major matrix views and parameters, and
// owned buffers that are reused from batch to batch.
//
// Layer convention (Linear, Activation, BatchNorm, DotInteraction, MLP; CrossLayer also takes
// x0 and adds into its gradient, see cross_layer.hpp):
//   ConstMatrix forward(ConstMatrix x)                      x [B x in] -> y [B x out]
//   ConstMatrix backward(ConstMatrix dy, Gradients& grads)  dy [B x out] -> dx [B x in]
//   void collect_parameters(std::vector<Parameter*>& out)
// forward returns a view of a buffer the layer owns (valid until its next forward); a layer
// may keep a view of x for backward, so x must stay unchanged until backward has run.
// backward writes the gradients of the layer's parameters through Gradients::dense_for (each
// parameter is used once per step) and returns a view of its own dx buffer.
#pragma once

#include <string>
#include <vector>

#include <Eigen/Core>

#include "embcomp/core/error.hpp"
#include "embcomp/core/gradients.hpp"
#include "embcomp/core/parameter.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp::nn {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using EigenMap = Eigen::Map<RowMajorMatrix>;
using ConstEigenMap = Eigen::Map<const RowMajorMatrix>;

inline EigenMap as_eigen(Matrix m) { return {m.data, m.rows, m.cols}; }
inline ConstEigenMap as_eigen(ConstMatrix m) { return {m.data, m.rows, m.cols}; }
/// A fp32 parameter as its [rows x width] matrix.
inline EigenMap as_eigen(Parameter& p) { return {p.data(), p.rows(), p.width()}; }
inline ConstEigenMap as_eigen(const Parameter& p) { return {p.data(), p.rows(), p.width()}; }
/// The dense gradient of `p` (zero-filled) as its [rows x width] matrix.
inline EigenMap gradient_of(Parameter& p, Gradients& grads) {
  return {grads.dense_for(p).values.data(), p.rows(), p.width()};
}

/// A [rows x cols] row-major buffer; resizing keeps the capacity, so nothing is allocated
/// once the largest batch has been seen.
class Buffer {
 public:
  Matrix resize(Index rows, Index cols) {
    values_.resize(static_cast<std::size_t>(rows * cols));
    rows_ = rows;
    cols_ = cols;
    return view();
  }
  Matrix view() { return {values_.data(), rows_, cols_}; }
  ConstMatrix view() const { return {values_.data(), rows_, cols_}; }
  std::size_t bytes() const { return values_.capacity() * sizeof(float); }

 private:
  std::vector<float> values_;
  Index rows_ = 0;
  Index cols_ = 0;
};

/// Throws InvalidArgument unless `m` has `cols` columns.
inline void require_cols(const char* layer, ConstMatrix m, Index cols) {
  if (m.cols != cols) {
    throw InvalidArgument(std::string(layer) + ": input has " + std::to_string(m.cols) +
                          " columns, expected " + std::to_string(cols));
  }
}

}  // namespace embcomp::nn
