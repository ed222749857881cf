// Elementwise activations: identity, ReLU and Mish, as one layer chosen at run time (an MLP's
// last activation is configurable).
#pragma once

#include <bit>
#include <algorithm>
#include <cstdint>
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
    infer(x, y);
    return y;
  }

  /// y = f(x) into the caller's y (same shape; may be x itself), keeping nothing.
  void infer(ConstMatrix x, Matrix y) const {
    if (kind_ == ActivationKind::none) {
      if (y.data != x.data) std::copy_n(x.data, x.size(), y.data);
    } else if (kind_ == ActivationKind::relu) {
      transform_in_place(x, y, [](float v) { return kernels::relu(v); });
    } else {
      transform_in_place(x, y, [](float v) { return kernels::mish(v); });
    }
  }

  ConstMatrix backward(ConstMatrix dy, Gradients& /*grads*/) {
    if (kind_ == ActivationKind::none) return dy;
    const Matrix dx = input_grad_.resize(dy.rows, dy.cols);
    if (kind_ == ActivationKind::relu) {
      transform(input_, dy, dx, [](float v, float g) { return g * relu_derivative_bits(v); });
    } else {
      transform(input_, dy, dx, [](float v, float g) { return g * kernels::mish_derivative(v); });
    }
    return dx;
  }

  void collect_parameters(std::vector<Parameter*>& /*out*/) {}

 private:
  /// kernels::relu_derivative(v) (1 or 0) built from the comparison's bits. With a select of
  /// 1 and 0, GCC folds g * d into a branch around a multiply that may trap and then does not
  /// vectorise the loop; this way the multiply stays unconditional (same values, NaN and
  /// signed zeros included) and the loop vectorises.
  static float relu_derivative_bits(float v) {
    const auto all_ones_if_positive = static_cast<std::uint32_t>(-static_cast<std::int32_t>(v > 0.0f));
    return std::bit_cast<float>(all_ones_if_positive & std::bit_cast<std::uint32_t>(1.0f));
  }
  /// out[i] = fn(x[i], g[i]) over every element (the kind is chosen outside the loop so that
  /// the loop vectorises); out never aliases x or g (it is this layer's own buffer).
  template <class Fn>
  static void transform(ConstMatrix x, ConstMatrix g, Matrix out, Fn fn) {
    const std::size_t n = x.size();
    const float* __restrict xs = x.data;
    const float* __restrict gs = g.data;
    float* __restrict os = out.data;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) os[i] = fn(xs[i], gs[i]);
  }

  /// out[i] = fn(x[i]); out may alias x (elementwise, each element read before it is written).
  template <class Fn>
  static void transform_in_place(ConstMatrix x, Matrix out, Fn fn) {
    const std::size_t n = x.size();
    const float* xs = x.data;
    float* os = out.data;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) os[i] = fn(xs[i]);
  }

  ActivationKind kind_;
  ConstMatrix input_;
  Buffer output_;
  Buffer input_grad_;
};

}  // namespace embcomp::nn
