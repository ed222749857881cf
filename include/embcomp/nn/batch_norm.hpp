// Batch normalisation over the rows of [B x C] (one statistic per column).
#pragma once

#include <cmath>
#include <string>
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
      : gamma_(name + ".gamma", 1, channels, ParamKind::dense),
        beta_(name + ".beta", 1, channels, ParamKind::dense),
        running_mean_(channels, 0.0f),
        running_var_(channels, 1.0f),
        momentum_(momentum),
        eps_(eps) {
    gamma_.fill(1.0f);
  }
  BatchNorm(const BatchNorm&) = delete;
  BatchNorm& operator=(const BatchNorm&) = delete;

  Index channels() const { return gamma_.width(); }
  void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }
  const std::vector<float>& running_mean() const { return running_mean_; }
  const std::vector<float>& running_var() const { return running_var_; }
  Parameter& gamma() { return gamma_; }
  Parameter& beta() { return beta_; }
  /// Bytes of the running statistics (state that is not a trainable parameter).
  std::size_t buffer_bytes() const { return 2 * running_mean_.size() * sizeof(float); }

  ConstMatrix forward(ConstMatrix x) {
    require_cols("batch norm", x, channels());
    if (training_ && x.rows < 2) throw InvalidArgument("batch norm: training needs a batch of >= 2");
    const auto in = as_eigen(x);
    if (training_) {
      mean_ = in.colwise().mean();
      var_ = (in.rowwise() - mean_).array().square().colwise().mean();
      update_running_stats(x.rows);
    } else {
      mean_ = Eigen::Map<const Eigen::RowVectorXf>(running_mean_.data(), channels());
      var_ = Eigen::Map<const Eigen::RowVectorXf>(running_var_.data(), channels());
    }
    inv_std_ = (var_.array() + eps_).rsqrt().matrix();
    auto xhat = as_eigen(normalized_.resize(x.rows, channels()));
    xhat = ((in.rowwise() - mean_).array().rowwise() * inv_std_.array()).matrix();
    auto y = as_eigen(output_.resize(x.rows, channels()));
    y = (xhat.array().rowwise() * as_eigen(gamma_).row(0).array()).matrix();
    y.rowwise() += as_eigen(beta_).row(0);
    return output_.view();
  }

  /// Training mode: dx = inv_std / B * (B * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)) with
  /// dxhat = dy * gamma (the batch statistics depend on x). Eval mode: dx = dy * gamma * inv_std.
  ConstMatrix backward(ConstMatrix dy, Gradients& grads) {
    const auto g = as_eigen(dy);
    const auto xhat = as_eigen(normalized_.view());
    gradient_of(gamma_, grads) = (g.array() * xhat.array()).colwise().sum().matrix();
    gradient_of(beta_, grads) = g.colwise().sum();
    auto dx = as_eigen(input_grad_.resize(dy.rows, channels()));
    scale_ = (as_eigen(gamma_).row(0).array() * inv_std_.array()).matrix();
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
    out.push_back(&gamma_);
    out.push_back(&beta_);
  }

 private:
  void update_running_stats(Index batch) {
    const float unbiased = static_cast<float>(batch) / static_cast<float>(batch - 1);
    for (Index c = 0; c < channels(); ++c) {
      running_mean_[c] = (1.0f - momentum_) * running_mean_[c] + momentum_ * mean_[c];
      running_var_[c] = (1.0f - momentum_) * running_var_[c] + momentum_ * unbiased * var_[c];
    }
  }

  Parameter gamma_;
  Parameter beta_;
  std::vector<float> running_mean_;
  std::vector<float> running_var_;
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
