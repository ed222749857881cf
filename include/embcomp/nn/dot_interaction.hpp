// DLRM's dot interaction: pairwise dot products of each sample's vectors.
#pragma once

#include <algorithm>
#include <vector>

#include "embcomp/kernels/gemm.hpp"
#include "embcomp/nn/tensor.hpp"

namespace embcomp::nn {

/// Input z [B x V*d]: sample b holds V vectors of dim d, vector v at columns [v*d, (v+1)*d).
/// Output [B x (d if keep_first) + V(V-1)/2]: with keep_first, vector 0 (DLRM's bottom-MLP
/// output) comes first, then the strict lower triangle of Z_b Z_b^T in row order
/// (1,0), (2,0), (2,1), (3,0), ... (as PyTorch DLRM's interaction "dot" without self terms).
class DotInteraction {
 public:
  DotInteraction(Index vectors, Index dim, bool keep_first)
      : vectors_(vectors), dim_(dim), keep_first_(keep_first) {
    if (vectors < 2 || dim < 1) throw InvalidArgument("dot interaction: needs >= 2 vectors, dim >= 1");
  }

  Index vectors() const { return vectors_; }
  Index pairs() const { return vectors_ * (vectors_ - 1) / 2; }
  Index out() const { return (keep_first_ ? dim_ : 0) + pairs(); }

  ConstMatrix forward(ConstMatrix z) {
    require_cols("dot interaction", z, vectors_ * dim_);
    input_ = z;
    const Matrix y = output_.resize(z.rows, out());
#pragma omp parallel for schedule(static) if (z.rows >= 512)
    for (Index b = 0; b < z.rows; ++b) {
      const auto zb = sample(z, b);
      float* yb = y.row(b);
      if (keep_first_) std::copy_n(z.row(b), dim_, yb);
      float* dots = yb + first_width();
      for (Index i = 1, k = 0; i < vectors_; ++i) {
        for (Index j = 0; j < i; ++j, ++k) dots[k] = zb.row(i).dot(zb.row(j));
      }
    }
    return y;
  }

  /// d z_i = sum_{j != i} dy_(i,j) z_j, plus dy's first d columns on vector 0 with keep_first:
  /// per sample dZ_b [V x d] = P_b [V x V] Z_b, with P_b the symmetric matrix of the pair
  /// gradients (zero diagonal), one small product per sample.
  ConstMatrix backward(ConstMatrix dy, Gradients& /*grads*/) {
    const Matrix dz = input_grad_.resize(dy.rows, vectors_ * dim_);
    const Index v = vectors_;
#pragma omp parallel if (dy.rows >= 512)
    {
      std::vector<float>& pairs = pair_scratch();
      pairs.assign(static_cast<std::size_t>(v * v), 0.0f);
#pragma omp for schedule(static)
      for (Index b = 0; b < dy.rows; ++b) {
        const float* ddots = dy.row(b) + first_width();
        for (Index i = 1, k = 0; i < v; ++i) {
          for (Index j = 0; j < i; ++j, ++k) pairs[i * v + j] = pairs[j * v + i] = ddots[k];
        }
        kernels::gemm_serial(v, dim_, v, {pairs.data(), v}, {input_.row(b), dim_}, dz.row(b), dim_);
        if (keep_first_) {
          for (Index c = 0; c < dim_; ++c) dz.row(b)[c] += dy.row(b)[c];
        }
      }
    }
    return dz;
  }

  void collect_parameters(std::vector<Parameter*>& /*out*/) {}

 private:
  Index first_width() const { return keep_first_ ? dim_ : 0; }
  /// This thread's [V x V] pair-gradient matrix (its diagonal stays 0).
  static std::vector<float>& pair_scratch() {
    thread_local std::vector<float> pairs;
    return pairs;
  }
  /// Sample b of z as its [V x d] matrix.
  ConstEigenMap sample(ConstMatrix z, Index b) const { return {z.row(b), vectors_, dim_}; }

  Index vectors_;
  Index dim_;
  bool keep_first_;
  ConstMatrix input_;
  Buffer output_;
  Buffer input_grad_;
};

}  // namespace embcomp::nn
