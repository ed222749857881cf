// autodim's search supernet apart from the table (methods/autodim.hpp): every candidate width
// k has rows R_k [N x w_k] (fields stacked as in `full`), a per-field linear layer W_k [F*w_k x
// d] (field f's block [w_k x d]) with bias b_k [F x d], and BatchNorm without scale or shift
// over the B*F positions (running mean and variance [2 x d]). Position p of field f, row r:
//   h_k[p] = BN_k(R_k[r] W_k[f] + b_k[f]),   out[p] = sum_k P[f][k] h_k[p]
// for mixing weights P [F x K] the table gives (autodim: Gumbel-softmax of its logits). In
// training BN uses the batch statistics (and moves the running ones; the sums and arithmetic of
// kernels/batch_norm.hpp, rows in ascending order); at lookup the running ones. The parameters
// are the owning table's; this class computes with them.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Core>

#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/batch_norm.hpp"
#include "embcomp/kernels/mde.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/methods/autodim_mixing.hpp"

namespace embcomp::autodim {

/// Candidate k's storage; the pointers are the owning table's registered parameters.
struct Candidate {
  Index width = 0;
  Parameter* rows = nullptr;    ///< R_k [N x w]
  Parameter* weight = nullptr;  ///< W_k [F*w x d]
  Parameter* bias = nullptr;    ///< b_k [F x d]
  Parameter* norm = nullptr;    ///< [2 x d]: running mean, running variance
};

class SearchNet {
 public:
  static constexpr float kNormMomentum = autodim::kNormMomentum;
  static constexpr float kNormEps = autodim::kNormEps;

  /// offsets: the first stacked row of each field; dim: d.
  SearchNet(std::vector<Index> offsets, Index dim) : offsets_(std::move(offsets)), dim_(dim) {}

  std::vector<Candidate>& candidates() { return candidates_; }
  const std::vector<Candidate>& candidates() const { return candidates_; }
  Index count() const { return static_cast<Index>(candidates_.size()); }

  /// h[d] = the eval-mode h_k of row r of field f: BatchNorm on its running statistics,
  /// (h - mean) inverse_std(var).
  void eval_candidate(Index k, Index f, Index r, float* h) const {
    project(k, f, r, h);
    const Parameter& norm = *candidates_[k].norm;
    for (Index j = 0; j < dim_; ++j) {
      h[j] = (h[j] - norm.row(0)[j]) * kernels::inverse_std(norm.row(1)[j], kNormEps);
    }
  }

  /// out[B*F x d] = sum_k P h_k in eval mode; thread-safe.
  void lookup(const IdBatch& ids, const std::vector<float>& P, Matrix out) const {
    const Index K = count(), D = dim_;
#pragma omp parallel if (ids.size() > 256)
    {
      std::vector<float> h(static_cast<std::size_t>(D));
#pragma omp for schedule(static)
      for (Index p = 0; p < ids.size(); ++p) {
        const Index f = ids.field_of(p);
        float* o = out.row(p);
        std::fill_n(o, D, 0.0f);
        for (Index k = 0; k < K; ++k) {
          eval_candidate(k, f, offsets_[f] + ids[p], h.data());
          for (Index c = 0; c < D; ++c) o[c] += P[f * K + k] * h[c];
        }
      }
    }
  }

  /// dL/dP [F x K] = sum over field f's positions of dE[p] . h_k[p] (eval h_k), in position
  /// order (the sums do not depend on threads).
  std::vector<double> mixing_gradient(const IdBatch& ids, ConstMatrix dE) const {
    const Index K = count(), D = dim_;
    std::vector<double> dP(static_cast<std::size_t>(ids.fields * K), 0.0);
    std::vector<float> h(static_cast<std::size_t>(D));
    for (Index p = 0; p < ids.size(); ++p) {
      const Index f = ids.field_of(p);
      for (Index k = 0; k < K; ++k) {
        eval_candidate(k, f, offsets_[f] + ids[p], h.data());
        double dot = 0.0;
        for (Index c = 0; c < D; ++c) dot += static_cast<double>(dE.row(p)[c]) * h[c];
        dP[f * K + k] += dot;
      }
    }
    return dP;
  }

  /// out[B*F x d] = sum_k P h_k with batch statistics; caches what backward needs and, with
  /// update_running, moves the running statistics.
  void train_forward(const IdBatch& ids, std::vector<float> P, float* out, bool update_running) {
    const Index M = ids.size(), D = dim_, K = count();
    mix_ = std::move(P);
    cache_.resize(candidates_.size());
    std::fill_n(out, M * D, 0.0f);
    for (Index k = 0; k < K; ++k) {
      CandidateCache& cache = cache_[k];
      cache.normalized.resize(static_cast<std::size_t>(M * D));
#pragma omp parallel for schedule(static) if (M > 1024)
      for (Index p = 0; p < M; ++p) {
        const Index f = ids.field_of(p);
        project(k, f, offsets_[f] + ids[p], cache.normalized.data() + p * D);
      }
      Eigen::Map<RowMajor> x(cache.normalized.data(), M, D);
      Eigen::RowVectorXf mean(D), var(D);
      kernels::batch_statistics(cache.normalized.data(), M, D, mean.data(), var.data());
      cache.inv_std.resize(D);
      for (Index c = 0; c < D; ++c) cache.inv_std[c] = kernels::inverse_std(var[c], kNormEps);
      x = ((x.rowwise() - mean).array().rowwise() * cache.inv_std.array()).matrix();
      if (update_running) {
        Parameter& norm = *candidates_[k].norm;
        for (Index c = 0; c < D; ++c) {
          kernels::update_running_statistics(norm.row(0)[c], norm.row(1)[c], mean[c], var[c], M,
                                             kNormMomentum);
        }
      }
      for (Index p = 0; p < M; ++p) {
        const float weight = mix_[ids.field_of(p) * K + k];
        const float* h = cache.normalized.data() + p * D;
        for (Index c = 0; c < D; ++c) out[p * D + c] += weight * h[c];
      }
    }
    forwarded_.assign(ids.ids, ids.ids + ids.size());
  }

  /// Gradients of every candidate's rows, layer and bias for dE[B*F x d] of the training
  /// forward with mixing weights P (forwarded again, without moving the running statistics,
  /// unless the last train_forward was of these ids).
  void backward(const IdBatch& ids, const std::vector<float>& P, ConstMatrix dE, Gradients& grads) {
    if (forwarded_.size() != static_cast<std::size_t>(ids.size()) ||
        !std::equal(forwarded_.begin(), forwarded_.end(), ids.ids)) {
      scratch_out_.resize(static_cast<std::size_t>(ids.size() * dim_));
      train_forward(ids, P, scratch_out_.data(), /*update_running=*/false);
    }
    forwarded_.clear();
    search_rows_.resize(static_cast<std::size_t>(ids.size()));
    for (Index p = 0; p < ids.size(); ++p) search_rows_[p] = offsets_[ids.field_of(p)] + ids[p];
    for (Index k = 0; k < count(); ++k) candidate_backward(k, ids, dE, grads);
  }

 private:
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  /// The training scratch of candidate k: its normalised outputs and batch statistics.
  struct CandidateCache {
    std::vector<float> normalized;  ///< [B*F x d]
    Eigen::RowVectorXf inv_std;
  };

  /// h[d] = R_k[r] W_k[f] + b_k[f], before BatchNorm.
  void project(Index k, Index f, Index r, float* h) const {
    const Candidate& c = candidates_[k];
    kernels::mde_project(c.rows->row(r), c.width, c.weight->row(f * c.width), dim_, h);
    const float* b = c.bias->row(f);
    for (Index j = 0; j < dim_; ++j) h[j] += b[j];
  }

  /// Candidate k's gradients: dh = P dE through BatchNorm's batch statistics,
  ///   dx = inv_std / M (M dh - sum(dh) - xhat sum(dh xhat)),
  /// then dW_k[f] += R_k[r]ᵀ dx, db_k[f] += dx, and R_k[r] += W_k[f] dx per unique row.
  void candidate_backward(Index k, const IdBatch& ids, ConstMatrix dE, Gradients& grads) {
    const Candidate& c = candidates_[k];
    const CandidateCache& cache = cache_[k];
    const Index M = ids.size(), D = dim_, w = c.width, K = count();
    dx_.resize(static_cast<std::size_t>(M * D));
    Eigen::Map<RowMajor> dx(dx_.data(), M, D);
    for (Index p = 0; p < M; ++p) {
      const float weight = mix_[ids.field_of(p) * K + k];
      for (Index j = 0; j < D; ++j) dx(p, j) = weight * dE.row(p)[j];
    }
    const float* xhat = cache.normalized.data();
    sum_dh_.resize(static_cast<std::size_t>(D));
    sum_dh_xhat_.resize(static_cast<std::size_t>(D));
    kernels::batch_norm_column_sums(dx_.data(), xhat, M, D, sum_dh_.data(), sum_dh_xhat_.data());
    for (Index p = 0; p < M; ++p) {
      for (Index j = 0; j < D; ++j) {
        dx(p, j) = kernels::batch_norm_input_grad(dx(p, j), xhat[p * D + j], sum_dh_[j],
                                                  sum_dh_xhat_[j], cache.inv_std[j], M);
      }
    }

    float* dW = grads.dense_for(*c.weight).values.data();
    float* db = grads.dense_for(*c.bias).values.data();
    for (Index p = 0; p < M; ++p) {
      const Index f = ids.field_of(p);
      const float* e = c.rows->row(search_rows_[p]);
      const float* g = dx_.data() + p * D;
      for (Index i = 0; i < w; ++i) {
        float* dW_row = dW + (f * w + i) * D;
        for (Index j = 0; j < D; ++j) dW_row[j] += e[i] * g[j];
      }
      for (Index j = 0; j < D; ++j) db[f * D + j] += g[j];
    }
    scatter_param_grad(*c.rows, search_rows_, groups_, grads, [&](Index p, float* acc) {
      const float* W = c.weight->row(ids.field_of(p) * w);
      kernels::mde_project_back(W, w, D, dx_.data() + p * D, acc);
    });
  }

  std::vector<Index> offsets_;
  Index dim_;
  std::vector<Candidate> candidates_;
  // training scratch, reused from batch to batch
  std::vector<CandidateCache> cache_;
  std::vector<float> mix_;           ///< [F x K] the P of the last training forward
  std::vector<Index> forwarded_;     ///< ids of the last training forward
  std::vector<float> scratch_out_;
  std::vector<float> dx_;            ///< [B*F x d]
  std::vector<float> sum_dh_, sum_dh_xhat_;  ///< [d] BatchNorm's column sums in backward
  std::vector<Index> search_rows_;   ///< stacked row of each position
  kernels::RowGroups groups_;
};

}  // namespace embcomp::autodim
