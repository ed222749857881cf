// DCN cross layer.
#pragma once

#include <string>
#include <vector>

#include "embcomp/nn/init.hpp"
#include "embcomp/nn/tensor.hpp"

namespace embcomp::nn {

/// x_{l+1} = x0 ⊙ (x_l w) + x_l + b on [B x n]: x_l w is one scalar s_b per sample,
/// w [n x 1] Xavier-normal from `seed`, b [1 x n] zero (the reference's init).
class CrossLayer {
 public:
  CrossLayer(const std::string& name, Index width, std::uint64_t seed)
      : weight_(name + ".weight", width, 1, ParamKind::dense),
        bias_(name + ".bias", 1, width, ParamKind::dense) {
    fill_xavier_normal(weight_, width, 1, seed);
  }
  CrossLayer(const CrossLayer&) = delete;
  CrossLayer& operator=(const CrossLayer&) = delete;

  Index width() const { return bias_.width(); }

  /// x0, xl [B x n] -> [B x n]. Both must stay unchanged until backward.
  ConstMatrix forward(ConstMatrix x0, ConstMatrix xl) {
    require_cols("cross layer", x0, width());
    require_cols("cross layer", xl, width());
    x0_ = x0;
    xl_ = xl;
    scalars_.resize(xl.rows, 1);
    auto s = as_eigen(scalars_.view());
    s.noalias() = as_eigen(xl) * as_eigen(weight_);
    auto y = as_eigen(output_.resize(xl.rows, width()));
    y = (as_eigen(x0).array().colwise() * s.col(0).array()).matrix() + as_eigen(xl);
    y.rowwise() += as_eigen(bias_).row(0);
    return output_.view();
  }

  /// With g = dy: db = sum_b g, ds_b = g_b . x0_b, dw = x_l^T ds, dx_l = g + ds w^T and
  /// dx0 += g ⊙ s. Returns dx_l; adds the x0 gradient into `dx0` [B x n].
  ConstMatrix backward(ConstMatrix dy, Gradients& grads, Matrix dx0) {
    const auto g = as_eigen(dy);
    const auto x0 = as_eigen(x0_);
    const auto s = as_eigen(scalars_.view());
    auto ds = as_eigen(scalar_grads_.resize(dy.rows, 1));
    ds = (g.array() * x0.array()).rowwise().sum().matrix();
    gradient_of(bias_, grads) = g.colwise().sum();
    gradient_of(weight_, grads).noalias() = as_eigen(xl_).transpose() * ds;
    as_eigen(dx0) += (g.array().colwise() * s.col(0).array()).matrix();
    auto dxl = as_eigen(input_grad_.resize(dy.rows, width()));
    dxl = g;
    dxl.noalias() += ds * as_eigen(weight_).transpose();
    return input_grad_.view();
  }

  void collect_parameters(std::vector<Parameter*>& out) {
    out.push_back(&weight_);
    out.push_back(&bias_);
  }

 private:
  Parameter weight_;
  Parameter bias_;
  ConstMatrix x0_;
  ConstMatrix xl_;
  Buffer scalars_;
  Buffer scalar_grads_;
  Buffer output_;
  Buffer input_grad_;
};

}  // namespace embcomp::nn
