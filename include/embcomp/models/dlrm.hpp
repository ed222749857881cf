// DLRM (benchmark-protocol.md §2, methods-inter.md §0.7).
#pragma once

#include <algorithm>
#include <optional>

#include "embcomp/kernels/hash.hpp"
#include "embcomp/models/model.hpp"
#include "embcomp/nn/dot_interaction.hpp"
#include "embcomp/nn/mlp.hpp"

namespace embcomp {

/// bottom MLP Dd -> 512 -> 256 -> 64 -> d (all ReLU) on the dense features; dot interaction of
/// [bottom output; F embeddings] (strict lower triangle, (F+1)F/2 values) concatenated with the
/// bottom output; top MLP -> 512 -> 256 -> 1 (ReLU hidden, no activation on the logit).
/// With Dd = 0 there is no bottom MLP and the top MLP sees the F(F-1)/2 dots only.
class Dlrm : public Model {
 public:
  explicit Dlrm(ModelArgs args)
      : Model(with_defaults(std::move(args))),
        interaction_(vectors(), this->args().dim, has_dense()),
        top_("top", interaction_.out(), with_output(this->args().top_hidden, 1),
             nn::ActivationKind::relu, nn::ActivationKind::none, kernels::combine(this->args().seed, 2)) {
    const ModelArgs& a = this->args();
    if (has_dense()) {
      bottom_.emplace("bottom", a.num_dense, with_output(a.bottom_hidden, a.dim),
                      nn::ActivationKind::relu, nn::ActivationKind::relu, kernels::combine(a.seed, 1));
    }
  }

  std::string name() const override { return "dlrm"; }
  /// Width of the top MLP's input: d + (F+1)F/2 with dense features, F(F-1)/2 without.
  Index top_input_width() const { return top_.in(); }

 protected:
  void forward_impl(ConstMatrix dense, ConstMatrix embeddings, std::span<float> logits) override {
    const ConstMatrix first = bottom_ ? bottom_->forward(dense) : ConstMatrix{nullptr, dense.rows, 0};
    const Matrix stacked = stacked_.resize(dense.rows, vectors() * args().dim);
    concat_columns(first, embeddings, stacked);
    const ConstMatrix logit = top_.forward(interaction_.forward(stacked));
    std::copy_n(logit.data, logits.size(), logits.data());
  }

  ConstMatrix backward_impl(ConstMatrix dlogits, Gradients& grads, Matrix dE) override {
    const ConstMatrix dstacked = interaction_.backward(top_.backward(dlogits, grads), grads);
    if (!bottom_) {
      split_columns(dstacked, Matrix{nullptr, dE.rows, 0}, dE);
      return {nullptr, dE.rows, 0};
    }
    const Matrix dfirst = bottom_grad_.resize(dE.rows, args().dim);
    split_columns(dstacked, dfirst, dE);
    return bottom_->backward(dfirst, grads);
  }

  void collect_parameters(std::vector<Parameter*>& out) override {
    if (bottom_) bottom_->collect_parameters(out);
    top_.collect_parameters(out);
  }

 private:
  static ModelArgs with_defaults(ModelArgs a) {
    if (a.bottom_hidden.empty()) a.bottom_hidden = {512, 256, 64};
    if (a.top_hidden.empty()) a.top_hidden = {512, 256};
    return a;
  }
  bool has_dense() const { return args().num_dense > 0; }
  /// Vectors per sample in the interaction: the bottom output (if any) and F embeddings.
  Index vectors() const { return args().num_fields + (has_dense() ? 1 : 0); }

  std::optional<nn::MLP> bottom_;
  nn::DotInteraction interaction_;
  nn::MLP top_;
  nn::Buffer stacked_;      // [B x V*d]: [bottom output | F embeddings]
  nn::Buffer bottom_grad_;  // [B x d]
};

}  // namespace embcomp
