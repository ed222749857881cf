// Linear layer: y = x W + b (the products through kernels::gemm).
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/kernels/gemm.hpp"
#include "embcomp/nn/init.hpp"
#include "embcomp/nn/tensor.hpp"

namespace embcomp::nn {

/// y [B x out] = x [B x in] * W [in x out] + b [1 x out]. W is Xavier-normal from `seed`, b is
/// zero (the reference's init); `bias = false` drops b (the WDL wide part).
class Linear {
 public:
  Linear(const std::string& name, Index in, Index out, std::uint64_t seed, bool bias = true)
      : own_weight_(std::in_place, name + ".weight", in, out, ParamKind::dense),
        weight_(&*own_weight_) {
    fill_xavier_normal(*weight_, in, out, seed);
    if (bias) bias_ = &own_bias_.emplace(name + ".bias", 1, out, ParamKind::dense);
  }
  /// A layer over parameters its owner registered elsewhere (a table's: DHE), used as they are:
  /// W [in x out] and, unless null, b [1 x out]. They must outlive the layer.
  Linear(Parameter& weight, Parameter* bias) : weight_(&weight), bias_(bias) {
    if (bias != nullptr && (bias->rows() != 1 || bias->width() != weight.width())) {
      throw InvalidArgument("linear: bias " + bias->name() + " is not [1 x " +
                            std::to_string(weight.width()) + "]");
    }
  }
  // Not copyable or movable: the optimizer keys its state by parameter address.
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  Index in() const { return weight_->rows(); }
  Index out() const { return weight_->width(); }
  Parameter& weight() { return *weight_; }
  Parameter* bias() { return bias_; }

  ConstMatrix forward(ConstMatrix x) {
    input_ = x;
    const Matrix y = output_.resize(x.rows, out());
    infer(x, y);
    return y;
  }

  /// y [B x out] = x W + b into the caller's y, keeping nothing (thread-safe: a serving path).
  void infer(ConstMatrix x, Matrix y) const {
    require_cols("linear", x, in());
    if (bias_ != nullptr) as_eigen(y).rowwise() = as_eigen(std::as_const(*bias_)).row(0);
    kernels::gemm(x.rows, out(), in(), {x.data, x.cols}, weights(), y.data, y.cols,
                  /*accumulate=*/bias_ != nullptr);
  }

  /// dW = x^T dy, db = column sums of dy, dx = dy W^T.
  ConstMatrix backward(ConstMatrix dy, Gradients& grads) {
    const kernels::GemmOperand dy_op{dy.data, dy.cols};
    // dW [in x out] = x^T [in x B] * dy [B x out]
    kernels::gemm(in(), out(), dy.rows, {input_.data, input_.cols, /*transposed=*/true}, dy_op,
                  gradient_of(*weight_, grads).data(), out());
    if (bias_ != nullptr) column_sums(dy, gradient_of(*bias_, grads).data());
    // dx [B x in] = dy [B x out] * W^T [out x in]
    const Matrix dx = input_grad_.resize(dy.rows, in());
    kernels::gemm(dy.rows, in(), out(), dy_op, transposed(weights()), dx.data, dx.cols);
    return dx;
  }

  void collect_parameters(std::vector<Parameter*>& out) {
    out.push_back(weight_);
    if (bias_ != nullptr) out.push_back(bias_);
  }

 private:
  /// out [m.cols] = the sum of m's rows, accumulated row by row (contiguous, vectorised).
  static void column_sums(ConstMatrix m, float* out) {
    std::fill_n(out, m.cols, 0.0f);
    for (Index r = 0; r < m.rows; ++r) {
      const float* row = m.row(r);
#pragma omp simd
      for (Index c = 0; c < m.cols; ++c) out[c] += row[c];
    }
  }
  /// W [in x out] as a GEMM operand.
  kernels::GemmOperand weights() const { return {std::as_const(*weight_).data(), out()}; }
  static kernels::GemmOperand transposed(kernels::GemmOperand x) { return {x.data, x.ld, true}; }

  std::optional<Parameter> own_weight_;  // set when the layer owns its parameters
  std::optional<Parameter> own_bias_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  ConstMatrix input_;
  Buffer output_;
  Buffer input_grad_;
};

}  // namespace embcomp::nn
