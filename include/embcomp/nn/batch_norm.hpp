// Batch normalisation over the rows of [B x C] (one statistic per column).
#pragma once

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/kernels/batch_norm.hpp"
#include "embcomp/nn/tensor.hpp"

namespace embcomp::nn {

/// Training mode: y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta with the batch's biased
/// variance, and running_stat = (1 - momentum) * running_stat + momentum * batch_stat.
/// Eval mode normalises with the running mean and variance instead.
/// The running variance takes the unbiased batch variance (as PyTorch); the normalisation
/// itself uses the biased one. gamma starts at 1, beta at 0, running mean 0, running var 1.
/// The per-column sums run over the rows in ascending order and the arithmetic is
/// kernels/batch_norm.hpp's, as the CUDA layer's (not Eigen's reductions, whose order follows
/// the SIMD width): the two agree bit for bit in host mode.
class BatchNorm {
 public:
  BatchNorm(const std::string& name, Index channels, float momentum = 0.1f, float eps = 1e-5f)
      : own_gamma_(std::in_place, name + ".gamma", 1, channels, ParamKind::dense),
        own_beta_(std::in_place, name + ".beta", 1, channels, ParamKind::dense),
        own_running_(std::in_place, name + ".running", 2, channels, ParamKind::dense, CodecSpec{},
                     ParamTraits{ParamRole::method_updated}),
        gamma_(&*own_gamma_), beta_(&*own_beta_), running_(&*own_running_),
        momentum_(momentum), eps_(eps) {
    reset_parameters();
  }
  /// A layer over parameters its owner registered elsewhere (a table's: DHE): gamma and beta
  /// [1 x C], running [2 x C] (row 0 the running mean, row 1 the running variance; a
  /// method_updated parameter). They must outlive the layer; reset_parameters() sets the
  /// initial values.
  BatchNorm(Parameter& gamma, Parameter& beta, Parameter& running, float momentum = 0.1f,
            float eps = 1e-5f)
      : gamma_(&gamma), beta_(&beta), running_(&running), momentum_(momentum), eps_(eps) {
    const Index c = gamma.width();
    if (gamma.rows() != 1 || beta.rows() != 1 || beta.width() != c || running.rows() != 2 ||
        running.width() != c) {
      throw InvalidArgument("batch norm: parameters " + gamma.name() + ", " + beta.name() + ", " +
                            running.name() + " are not [1 x C], [1 x C], [2 x C]");
    }
  }
  BatchNorm(const BatchNorm&) = delete;
  BatchNorm& operator=(const BatchNorm&) = delete;

  /// gamma 1, beta 0, running mean 0, running variance 1.
  void reset_parameters() {
    gamma_->fill(1.0f);
    beta_->fill(0.0f);
    std::fill_n(running_->row(0), channels(), 0.0f);
    std::fill_n(running_->row(1), channels(), 1.0f);
  }

  Index channels() const { return gamma_->width(); }
  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }
  std::span<const float> running_mean() const { return {running_->row(0), static_cast<std::size_t>(channels())}; }
  std::span<const float> running_var() const { return {running_->row(1), static_cast<std::size_t>(channels())}; }
  Parameter& gamma() { return *gamma_; }
  Parameter& beta() { return *beta_; }
  Parameter& running() { return *running_; }

  /// Eval mode into the caller's y [B x C] (running statistics), keeping nothing: thread-safe;
  /// y may be x itself. The same arithmetic as forward() in eval mode, bit for bit.
  void infer(ConstMatrix x, Matrix y) const {
    require_cols("batch norm", x, channels());
    const Eigen::Map<const Eigen::RowVectorXf> mean(running_->row(0), channels());
    Eigen::RowVectorXf inv_std;
    inverse_std(running_->row(1), inv_std);
    auto out = as_eigen(y);
    out = ((as_eigen(x).rowwise() - mean).array().rowwise() * inv_std.array()).matrix();
    out = (out.array().rowwise() * as_eigen(std::as_const(*gamma_)).row(0).array()).matrix();
    out.rowwise() += as_eigen(std::as_const(*beta_)).row(0);
  }

  ConstMatrix forward(ConstMatrix x) {
    require_cols("batch norm", x, channels());
    if (training_ && x.rows < 2) throw InvalidArgument("batch norm: training needs a batch of >= 2");
    const auto in = as_eigen(x);
    if (training_) {
      batch_statistics(x);
      update_running_stats(x.rows);
    } else {
      mean_ = Eigen::Map<const Eigen::RowVectorXf>(running_->row(0), channels());
      var_ = Eigen::Map<const Eigen::RowVectorXf>(running_->row(1), channels());
    }
    inverse_std(var_.data(), inv_std_);
    auto xhat = as_eigen(normalized_.resize(x.rows, channels()));
    xhat = ((in.rowwise() - mean_).array().rowwise() * inv_std_.array()).matrix();
    auto y = as_eigen(output_.resize(x.rows, channels()));
    y = (xhat.array().rowwise() * as_eigen(*gamma_).row(0).array()).matrix();
    y.rowwise() += as_eigen(*beta_).row(0);
    return output_.view();
  }

  /// Training mode: dx = inv_std / B * (B * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)) with
  /// dxhat = dy * gamma (the batch statistics depend on x). Eval mode: dx = dy * gamma * inv_std.
  ConstMatrix backward(ConstMatrix dy, Gradients& grads) {
    const Index C = channels();
    const ConstMatrix xhat = normalized_.view();
    sum_dy_.resize(C);
    sum_dy_xhat_.resize(C);
    kernels::batch_norm_column_sums(dy.data, xhat.data, dy.rows, C, sum_dy_.data(),
                                    sum_dy_xhat_.data());
    gradient_of(*gamma_, grads) = sum_dy_xhat_;
    gradient_of(*beta_, grads) = sum_dy_;
    Matrix dx = input_grad_.resize(dy.rows, C);
    scale_ = (as_eigen(*gamma_).row(0).array() * inv_std_.array()).matrix();
    if (!training_) {
      as_eigen(dx) = (as_eigen(dy).array().rowwise() * scale_.array()).matrix();
      return input_grad_.view();
    }
    for (Index r = 0; r < dy.rows; ++r) {
      for (Index c = 0; c < C; ++c) {
        dx.row(r)[c] = kernels::batch_norm_input_grad(dy.row(r)[c], xhat.row(r)[c], sum_dy_[c],
                                                      sum_dy_xhat_[c], scale_[c], dy.rows);
      }
    }
    return input_grad_.view();
  }

  void collect_parameters(std::vector<Parameter*>& out) {
    out.push_back(gamma_);
    out.push_back(beta_);
  }

 private:
  /// mean_ and var_ of x's columns (kernels::batch_statistics).
  void batch_statistics(ConstMatrix x) {
    mean_.resize(channels());
    var_.resize(channels());
    kernels::batch_statistics(x.data, x.rows, channels(), mean_.data(), var_.data());
  }

  /// out = kernels::inverse_std of var[0 .. C).
  void inverse_std(const float* var, Eigen::RowVectorXf& out) const {
    out.resize(channels());
    for (Index c = 0; c < channels(); ++c) out[c] = kernels::inverse_std(var[c], eps_);
  }

  void update_running_stats(Index batch) {
    float* running_mean = running_->row(0);
    float* running_var = running_->row(1);
    for (Index c = 0; c < channels(); ++c) {
      kernels::update_running_statistics(running_mean[c], running_var[c], mean_[c], var_[c], batch,
                                         momentum_);
    }
  }

  std::optional<Parameter> own_gamma_;  // set when the layer owns its parameters
  std::optional<Parameter> own_beta_;
  std::optional<Parameter> own_running_;
  Parameter* gamma_ = nullptr;
  Parameter* beta_ = nullptr;
  Parameter* running_ = nullptr;  ///< [2 x C]: running mean, running variance
  float momentum_;
  float eps_;
  bool training_ = true;
  // Per-channel scratch, kept so that nothing is allocated per batch once warm.
  Eigen::RowVectorXf mean_, var_, inv_std_, scale_, sum_dy_, sum_dy_xhat_;
  Buffer normalized_;
  Buffer output_;
  Buffer input_grad_;
};

}  // namespace embcomp::nn
