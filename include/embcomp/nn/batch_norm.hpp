// Batch normalisation over the rows of [B x C] (one statistic per column).
#pragma once

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "embcomp/nn/tensor.hpp"

namespace embcomp::nn {

/// Training mode: y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta with the batch's biased
/// variance, and running_stat = (1 - momentum) * running_stat + momentum * batch_stat.
/// Eval mode normalises with the running mean and variance instead.
/// The running variance takes the unbiased batch variance (as PyTorch); the normalisation
/// itself uses the biased one. gamma starts at 1, beta at 0, running mean 0, running var 1.
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
    const Eigen::Map<const Eigen::RowVectorXf> var(running_->row(1), channels());
    const Eigen::RowVectorXf inv_std = (var.array() + eps_).rsqrt().matrix();
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
      mean_ = in.colwise().mean();
      var_ = (in.rowwise() - mean_).array().square().colwise().mean();
      update_running_stats(x.rows);
    } else {
      mean_ = Eigen::Map<const Eigen::RowVectorXf>(running_->row(0), channels());
      var_ = Eigen::Map<const Eigen::RowVectorXf>(running_->row(1), channels());
    }
    inv_std_ = (var_.array() + eps_).rsqrt().matrix();
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
    const auto g = as_eigen(dy);
    const auto xhat = as_eigen(normalized_.view());
    gradient_of(*gamma_, grads) = (g.array() * xhat.array()).colwise().sum().matrix();
    gradient_of(*beta_, grads) = g.colwise().sum();
    auto dx = as_eigen(input_grad_.resize(dy.rows, channels()));
    scale_ = (as_eigen(*gamma_).row(0).array() * inv_std_.array()).matrix();
    if (!training_) {
      dx = (g.array().rowwise() * scale_.array()).matrix();
      return input_grad_.view();
    }
    const auto batch = static_cast<float>(dy.rows);
    sum_dy_ = g.colwise().sum();
    sum_dy_xhat_ = (g.array() * xhat.array()).colwise().sum().matrix();
    dx = ((batch * g.array()).rowwise() - sum_dy_.array()).matrix();
    dx.array() -= xhat.array().rowwise() * sum_dy_xhat_.array();
    dx = (dx.array().rowwise() * (scale_.array() / batch)).matrix();
    return input_grad_.view();
  }

  void collect_parameters(std::vector<Parameter*>& out) {
    out.push_back(gamma_);
    out.push_back(beta_);
  }

 private:
  void update_running_stats(Index batch) {
    const float unbiased = static_cast<float>(batch) / static_cast<float>(batch - 1);
    float* running_mean = running_->row(0);
    float* running_var = running_->row(1);
    for (Index c = 0; c < channels(); ++c) {
      running_mean[c] = (1.0f - momentum_) * running_mean[c] + momentum_ * mean_[c];
      running_var[c] = (1.0f - momentum_) * running_var[c] + momentum_ * unbiased * var_[c];
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
