// The dense layers on the device, each the twin of its CPU layer in nn/ (same shapes, same order
// of operations where the CPU fixes one), for the device models (device_model.cu) and the
// methods whose embedding is a network (dhe_table.cu). Their kernels are in dense_layers.cu;
// matrix products go through detail::gemm (dense_gemm.hpp).
//
// Layer convention (as nn/tensor.hpp): forward(x, batch) -> y [B x out], keeping a view of x for
// backward; backward(dy) -> dx [B x in], writing the gradients of the layer's parameters.
// Outputs are buffers the layer owns, valid until its next call.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "embcomp/core/types.hpp"
#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/cuda/device_table.hpp"

namespace embcomp::cuda::detail {

/// One dense parameter on the device: values, the last gradient and the optimizer state
/// ([rows x slots*width], the CPU optimizer's layout for a dense parameter).
struct DenseParameter {
  std::string name;
  Index rows = 0;
  Index width = 0;
  float lr_scale = 1.0f;
  DeviceArray<float> values;
  DeviceArray<float> gradient;
  DeviceArray<float> state;
  int state_slots = -1;

  Index size() const { return rows * width; }
};

/// Zero state for `optimizer` where there is none (`owner` names the parameter's owner in
/// errors); row-wise Adagrad steps a dense parameter by element, as the CPU does.
void ensure_dense_state(DenseParameter& p, const DeviceOptimizer& optimizer,
                        const std::string& owner);
/// The rule of `optimizer` over every element of p with its gradient; `step` is Adam's t.
void dense_step(DenseParameter& p, const DeviceOptimizer& optimizer, std::uint64_t step);
/// Records in *first (device memory) the first index of a NaN or Inf among values [n] (device
/// memory), offset by `base` (asynchronous, atomicMin).
void record_non_finite(const float* values, Index n, Index base, unsigned long long* first);
/// The same over p's gradient.
void record_non_finite(const DenseParameter& p, Index base, unsigned long long* first);
/// NonFiniteGradient naming the parameter and element of `first` (an index over the gradients
/// of `params` one after another), unless it is kNone.
void throw_non_finite(const std::deque<DenseParameter>& params, unsigned long long first,
                      const std::string& owner);
/// Checks every gradient of `params` (one read back, through `flag`, one value of device
/// memory): NonFiniteGradient naming the first NaN or Inf, nothing changed.
void check_finite_gradients(const std::deque<DenseParameter>& params,
                            DeviceArray<unsigned long long>& flag, const std::string& owner);

/// A [rows x cols] device matrix reused from batch to batch (grows, never shrinks).
class Activations {
 public:
  float* resize(Index rows, Index cols) {
    values_.reserve(static_cast<std::size_t>(rows * cols));
    return values_.data();
  }
  float* data() { return values_.data(); }
  std::size_t bytes() const { return values_.size() * sizeof(float); }

 private:
  DeviceArray<float> values_;
};

/// dst's columns [dst_col, dst_col + cols) of [rows x dst_ld] = src's [src_col, src_col + cols)
/// of [rows x src_ld].
void copy_columns(const float* src, Index src_ld, Index src_col, Index rows, Index cols, float* dst,
                  Index dst_ld, Index dst_col);
/// out[n] = a + b elementwise (out may be a or b).
void add(const float* a, const float* b, Index n, float* out);

/// y [B x out] = x [B x in] W [in x out] + b (nn::Linear): the bias broadcast, then the product
/// accumulated onto it, as the CPU layer. No bias where `bias` is null.
class LinearLayer {
 public:
  LinearLayer(DenseParameter& weight, DenseParameter* bias) : weight_(&weight), bias_(bias) {}

  Index in() const { return weight_->rows; }
  Index out() const { return weight_->width; }
  const float* forward(const float* x, Index batch);
  /// dW = xᵀ dy, db = column sums of dy; returns dx = dy Wᵀ.
  const float* backward(const float* dy);
  std::size_t bytes() const { return output_.bytes() + input_grad_.bytes(); }

 private:
  DenseParameter* weight_;
  DenseParameter* bias_;
  const float* input_ = nullptr;
  Index batch_ = 0;
  Activations output_;
  Activations input_grad_;
};

/// An elementwise activation (nn::Activation): ReLU or Mish; dx = dy * f'(x).
class ActivationLayer {
 public:
  enum class Kind { relu, mish };
  explicit ActivationLayer(Kind kind) : kind_(kind) {}

  const float* forward(const float* x, Index batch, Index width);
  const float* backward(const float* dy);
  std::size_t bytes() const { return output_.bytes() + input_grad_.bytes(); }

 private:
  Kind kind_;
  const float* input_ = nullptr;
  Index size_ = 0;
  Activations output_;
  Activations input_grad_;
};

/// Batch normalisation over the rows of [B x C] (nn::BatchNorm): with batch statistics, y =
/// gamma (x - mean_B) / sqrt(var_B + eps) + beta with the biased variance, and (when
/// `update_running`) running = (1 - momentum) running + momentum batch statistic, the variance's
/// unbiased; in evaluation mode the running mean and variance. gamma and beta [1 x C], running
/// [2 x C] (row 0 the mean, row 1 the variance; no gradient).
class BatchNormLayer {
 public:
  BatchNormLayer(DenseParameter& gamma, DenseParameter& beta, DenseParameter& running,
                 float momentum = 0.1f, float eps = 1e-5f)
      : gamma_(&gamma), beta_(&beta), running_(&running), momentum_(momentum), eps_(eps) {}

  Index channels() const { return gamma_->width; }
  const float* forward(const float* x, Index batch, bool batch_statistics, bool update_running);
  /// dgamma, dbeta and dx (through the batch statistics when the forward used them).
  const float* backward(const float* dy);
  std::size_t bytes() const {
    return statistics_.bytes() + normalized_.bytes() + output_.bytes() + input_grad_.bytes();
  }

 private:
  DenseParameter* gamma_;
  DenseParameter* beta_;
  DenseParameter* running_;
  float momentum_;
  float eps_;
  bool batch_statistics_ = false;
  Index batch_ = 0;
  Activations statistics_;  ///< [3 x C]: mean, variance, 1 / sqrt(variance + eps)
  Activations normalized_;  ///< x̂ [B x C]
  Activations output_;
  Activations input_grad_;
};

/// Linear layers, each followed by ReLU but the last, which has ReLU when `relu_last` (nn::MLP
/// with hidden ReLU and the last activation ReLU or none).
class MlpLayers {
 public:
  MlpLayers(std::deque<LinearLayer> linears, bool relu_last);

  Index in() const { return linears_.front().in(); }
  Index out() const { return linears_.back().out(); }
  const float* forward(const float* x, Index batch);
  const float* backward(const float* dy);
  std::size_t bytes() const;

 private:
  bool has_relu(std::size_t i) const { return i + 1 < linears_.size() || relu_last_; }

  std::deque<LinearLayer> linears_;
  bool relu_last_;
  std::deque<ActivationLayer> activations_;  ///< [linears], used where has_relu
};

/// DLRM's dot interaction on z [B x V*d] (nn::DotInteraction).
class DotLayer {
 public:
  DotLayer(Index vectors, Index dim, bool keep_first)
      : vectors_(vectors), dim_(dim), first_(keep_first ? dim : 0) {}

  Index out() const { return first_ + vectors_ * (vectors_ - 1) / 2; }
  const float* forward(const float* z, Index batch);
  const float* backward(const float* dy);
  std::size_t bytes() const { return output_.bytes() + input_grad_.bytes(); }

 private:
  Index vectors_;
  Index dim_;
  Index first_;
  const float* input_ = nullptr;
  Index batch_ = 0;
  Activations output_;
  Activations input_grad_;
};

/// DCN's cross layer x_{l+1} = x0 ⊙ (x_l w) + x_l + b (nn::CrossLayer).
class CrossLayer {
 public:
  CrossLayer(DenseParameter& weight, DenseParameter& bias) : weight_(&weight), bias_(&bias) {}

  Index width() const { return bias_->width; }
  const float* forward(const float* x0, const float* xl, Index batch);
  /// Returns dx_l; adds the x0 term into dx0 [B x n].
  const float* backward(const float* dy, float* dx0);
  std::size_t bytes() const {
    return scalars_.bytes() + scalar_grads_.bytes() + output_.bytes() + input_grad_.bytes();
  }

 private:
  DenseParameter* weight_;
  DenseParameter* bias_;
  const float* x0_ = nullptr;
  const float* xl_ = nullptr;
  Index batch_ = 0;
  Activations scalars_;
  Activations scalar_grads_;
  Activations output_;
  Activations input_grad_;
};

}  // namespace embcomp::cuda::detail
