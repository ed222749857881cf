// Multi-layer perceptron: Linear + activation, repeated.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "embcomp/kernels/hash.hpp"
#include "embcomp/nn/activation.hpp"
#include "embcomp/nn/linear.hpp"

namespace embcomp::nn {

/// x [B x in] -> Linear(in, widths[0]) -> act -> ... -> Linear(.., widths.back()) -> last.
/// Hidden layers use `hidden`, the last one `last` (none for a logit). Layer i is named
/// "<name>.<i>" and seeded with combine(seed, i).
class MLP {
 public:
  MLP(const std::string& name, Index in, const std::vector<Index>& widths,
      ActivationKind hidden, ActivationKind last, std::uint64_t seed) {
    if (widths.empty()) throw InvalidArgument("mlp " + name + ": needs at least one layer");
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const Index layer_in = i == 0 ? in : widths[i - 1];
      linears_.emplace_back(name + "." + std::to_string(i), layer_in, widths[i],
                            kernels::combine(seed, i));
      activations_.emplace_back(i + 1 == widths.size() ? last : hidden);
    }
  }
  MLP(const MLP&) = delete;
  MLP& operator=(const MLP&) = delete;

  Index in() const { return linears_.front().in(); }
  Index out() const { return linears_.back().out(); }
  std::size_t depth() const { return linears_.size(); }
  Linear& layer(std::size_t i) { return linears_[i]; }

  ConstMatrix forward(ConstMatrix x) {
    for (std::size_t i = 0; i < linears_.size(); ++i) {
      x = activations_[i].forward(linears_[i].forward(x));
    }
    return x;
  }

  ConstMatrix backward(ConstMatrix dy, Gradients& grads) {
    for (std::size_t i = linears_.size(); i-- > 0;) {
      dy = linears_[i].backward(activations_[i].backward(dy, grads), grads);
    }
    return dy;
  }

  void collect_parameters(std::vector<Parameter*>& out) {
    for (auto& linear : linears_) linear.collect_parameters(out);
  }

 private:
  std::deque<Linear> linears_;  // a deque never moves its elements: parameter addresses stay
  std::vector<Activation> activations_;
};

}  // namespace embcomp::nn
