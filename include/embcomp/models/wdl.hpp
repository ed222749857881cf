// Wide & Deep (benchmark-protocol.md §2, methods-inter.md §0.7).
#pragma once

#include "embcomp/kernels/hash.hpp"
#include "embcomp/models/model.hpp"
#include "embcomp/nn/linear.hpp"
#include "embcomp/nn/mlp.hpp"

namespace embcomp {

/// x = [flattened embeddings (F*d); dense (Dd)]; logit = deep(x) + wide(x) with the deep MLP
/// x -> 256 -> 256 -> 1 (ReLU hidden, none on the logit) and the wide part Linear(x -> 1),
/// bias-free.
class Wdl : public Model {
 public:
  explicit Wdl(ModelArgs args)
      : Model(with_defaults(std::move(args))),
        deep_("deep", input_width(), with_output(this->args().top_hidden, 1), nn::ActivationKind::relu,
              nn::ActivationKind::none, kernels::combine(this->args().seed, 1)),
        wide_("wide", input_width(), 1, kernels::combine(this->args().seed, 2), /*bias=*/false) {}

  std::string name() const override { return "wdl"; }

 protected:
  void forward_impl(ConstMatrix dense, ConstMatrix embeddings, std::span<float> logits) override {
    const Matrix x = features_.resize(dense.rows, input_width());
    concat_columns(embeddings, dense, x);
    const auto deep = nn::as_eigen(deep_.forward(x));
    const auto wide = nn::as_eigen(wide_.forward(x));
    Eigen::Map<Eigen::VectorXf>(logits.data(), dense.rows) = deep.col(0) + wide.col(0);
  }

  ConstMatrix backward_impl(ConstMatrix dlogits, Gradients& grads, Matrix dE) override {
    const Matrix dx = feature_grad_.resize(dlogits.rows, input_width());
    nn::as_eigen(dx) = nn::as_eigen(deep_.backward(dlogits, grads));
    nn::as_eigen(dx) += nn::as_eigen(wide_.backward(dlogits, grads));
    const Matrix ddense = dense_grad_.resize(dlogits.rows, args().num_dense);
    split_columns(dx, dE, ddense);
    return ddense;
  }

  void collect_parameters(std::vector<Parameter*>& out) override {
    deep_.collect_parameters(out);
    wide_.collect_parameters(out);
  }

 private:
  static ModelArgs with_defaults(ModelArgs a) {
    if (a.top_hidden.empty()) a.top_hidden = {256, 256};
    return a;
  }
  Index input_width() const { return args().num_fields * args().dim + args().num_dense; }

  nn::MLP deep_;
  nn::Linear wide_;
  nn::Buffer features_;      // [B x F*d + Dd]
  nn::Buffer feature_grad_;  // [B x F*d + Dd]
  nn::Buffer dense_grad_;    // [B x Dd]
};

}  // namespace embcomp
