// Linear layer: y = x W + b.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "embcomp/nn/init.hpp"
#include "embcomp/nn/tensor.hpp"

namespace embcomp::nn {

/// y [B x out] = x [B x in] * W [in x out] + b [1 x out]. W is Xavier-normal from `seed`, b is
/// zero (the reference's init); `bias = false` drops b (the WDL wide part).
class Linear {
 public:
  Linear(const std::string& name, Index in, Index out, std::uint64_t seed, bool bias = true)
      : weight_(name + ".weight", in, out, ParamKind::dense) {
    fill_xavier_normal(weight_, in, out, seed);
    if (bias) bias_.emplace(name + ".bias", 1, out, ParamKind::dense);
  }
  // Not copyable or movable: the optimizer keys its state by parameter address.
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  Index in() const { return weight_.rows(); }
  Index out() const { return weight_.width(); }
  Parameter& weight() { return weight_; }
  Parameter* bias() { return bias_ ? &*bias_ : nullptr; }

  ConstMatrix forward(ConstMatrix x) {
    require_cols("linear", x, in());
    input_ = x;
    auto y = as_eigen(output_.resize(x.rows, out()));
    y.noalias() = as_eigen(x) * as_eigen(weight_);
    if (bias_) y.rowwise() += as_eigen(*bias_).row(0);
    return output_.view();
  }

  /// dW = x^T dy, db = column sums of dy, dx = dy W^T.
  ConstMatrix backward(ConstMatrix dy, Gradients& grads) {
    const auto dy_map = as_eigen(dy);
    gradient_of(weight_, grads).noalias() = as_eigen(input_).transpose() * dy_map;
    if (bias_) gradient_of(*bias_, grads) = dy_map.colwise().sum();
    as_eigen(input_grad_.resize(dy.rows, in())).noalias() = dy_map * as_eigen(weight_).transpose();
    return input_grad_.view();
  }

  void collect_parameters(std::vector<Parameter*>& out) {
    out.push_back(&weight_);
    if (bias_) out.push_back(&*bias_);
  }

 private:
  Parameter weight_;
  std::optional<Parameter> bias_;
  ConstMatrix input_;
  Buffer output_;
  Buffer input_grad_;
};

}  // namespace embcomp::nn
