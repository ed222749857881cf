// Elementwise activations: identity, ReLU and Mish, as one layer chosen at run time (an MLP's
// last activation is configurable).
#pragma once

#include <vector>

#include "embcomp/kernels/activations.hpp"
#include "embcomp/nn/tensor.hpp"

namespace embcomp::nn {

enum class ActivationKind { none, relu, mish };

/// y = f(x) elementwise on [B x n]; backward dx = dy * f'(x). `none` passes views through.
class Activation {
 public:
  explicit Activation(ActivationKind kind = ActivationKind::relu) : kind_(kind) {}

  ActivationKind kind() const { return kind_; }

  ConstMatrix forward(ConstMatrix x) {
    if (kind_ == ActivationKind::none) return x;
    input_ = x;
    const Matrix y = output_.resize(x.rows, x.cols);
    if (kind_ == ActivationKind::relu) {
      transform(x, x, y, [](float v, float) { return kernels::relu(v); });
    } else {
      transform(x, x, y, [](float v, float) { return kernels::mish(v); });
    }
    return y;
  }

  ConstMatrix backward(ConstMatrix dy, Gradients& /*grads*/) {
    if (kind_ == ActivationKind::none) return dy;
    const Matrix dx = input_grad_.resize(dy.rows, dy.cols);
    if (kind_ == ActivationKind::relu) {
      transform(input_, dy, dx, [](float v, float g) { return g * kernels::relu_derivative(v); });
    } else {
      transform(input_, dy, dx, [](float v, float g) { return g * kernels::mish_derivative(v); });
    }
    return dx;
  }

  void collect_parameters(std::vector<Parameter*>& /*out*/) {}

 private:
  /// out[i] = fn(x[i], g[i]) over every element (the kind is chosen outside the loop so that
  /// the loop vectorises).
  template <class Fn>
  static void transform(ConstMatrix x, ConstMatrix g, Matrix out, Fn fn) {
    const std::size_t n = x.size();
    for (std::size_t i = 0; i < n; ++i) out.data[i] = fn(x.data[i], g.data[i]);
  }

  ActivationKind kind_;
  ConstMatrix input_;
  Buffer output_;
  Buffer input_grad_;
};

}  // namespace embcomp::nn
