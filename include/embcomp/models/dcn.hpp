// Deep & Cross Network (benchmark-protocol.md §2, methods-inter.md §0.7).
#pragma once

#include <algorithm>
#include <deque>

#include "embcomp/kernels/hash.hpp"
#include "embcomp/models/model.hpp"
#include "embcomp/nn/cross_layer.hpp"
#include "embcomp/nn/linear.hpp"
#include "embcomp/nn/mlp.hpp"

namespace embcomp {

/// x0 = [flattened embeddings (F*d); dense (Dd)]; 3 cross layers on x0; a deep MLP
/// x0 -> 256 -> 256 -> 256 (ReLU, ReLU, none); logit = Linear([cross out; deep out] -> 1).
class Dcn : public Model {
 public:
  static constexpr int kCrossLayers = 3;

  explicit Dcn(ModelArgs args)
      : Model(with_defaults(std::move(args))),
        deep_("deep", input_width(), this->args().top_hidden, nn::ActivationKind::relu,
              nn::ActivationKind::none, kernels::combine(this->args().seed, 1)),
        head_("head", input_width() + deep_.out(), 1, kernels::combine(this->args().seed, 2)) {
    for (int l = 0; l < kCrossLayers; ++l) {
      cross_.emplace_back("cross." + std::to_string(l), input_width(),
                          kernels::combine(this->args().seed, 3 + static_cast<std::uint64_t>(l)));
    }
  }

  std::string name() const override { return "dcn"; }

 protected:
  void forward_impl(ConstMatrix dense, ConstMatrix embeddings, std::span<float> logits) override {
    const Matrix x0 = features_.resize(dense.rows, input_width());
    concat_columns(embeddings, dense, x0);
    ConstMatrix x = x0;
    for (auto& layer : cross_) x = layer.forward(x0, x);
    const Matrix joined = joined_.resize(dense.rows, input_width() + deep_.out());
    concat_columns(x, deep_.forward(x0), joined);
    const ConstMatrix logit = head_.forward(joined);
    std::copy_n(logit.data, logits.size(), logits.data());
  }

  /// dx0 collects the deep MLP's input gradient, every cross layer's x0 term and the first
  /// cross layer's x_l term.
  ConstMatrix backward_impl(ConstMatrix dlogits, Gradients& grads, Matrix dE) override {
    const Index batch = dlogits.rows;
    const Matrix dcross = cross_grad_.resize(batch, input_width());
    const Matrix ddeep = deep_grad_.resize(batch, deep_.out());
    split_columns(head_.backward(dlogits, grads), dcross, ddeep);
    const Matrix dx0 = feature_grad_.resize(batch, input_width());
    nn::as_eigen(dx0) = nn::as_eigen(deep_.backward(ddeep, grads));
    ConstMatrix dx = dcross;
    for (auto layer = cross_.rbegin(); layer != cross_.rend(); ++layer) {
      dx = layer->backward(dx, grads, dx0);
    }
    nn::as_eigen(dx0) += nn::as_eigen(dx);
    const Matrix ddense = dense_grad_.resize(batch, args().num_dense);
    split_columns(dx0, dE, ddense);
    return ddense;
  }

  void collect_parameters(std::vector<Parameter*>& out) override {
    for (auto& layer : cross_) layer.collect_parameters(out);
    deep_.collect_parameters(out);
    head_.collect_parameters(out);
  }

 private:
  static ModelArgs with_defaults(ModelArgs a) {
    if (a.top_hidden.empty()) a.top_hidden = {256, 256, 256};
    return a;
  }
  Index input_width() const { return args().num_fields * args().dim + args().num_dense; }

  std::deque<nn::CrossLayer> cross_;
  nn::MLP deep_;
  nn::Linear head_;
  nn::Buffer features_;      // x0 [B x F*d + Dd]
  nn::Buffer joined_;        // [B x (F*d + Dd) + deep width]
  nn::Buffer cross_grad_;
  nn::Buffer deep_grad_;
  nn::Buffer feature_grad_;  // dx0
  nn::Buffer dense_grad_;    // [B x Dd]
};

}  // namespace embcomp
