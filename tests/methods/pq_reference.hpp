// Naive twins of the straight-through product-quantization training (methods/pq_training.hpp)
// that dpq_test and mgqe_test compare against: the nearest centroid by a scan in double, the
// training forward, and the surrogate gradients by their definition.
#pragma once

#include <cmath>
#include <vector>

#include "support.hpp"

namespace embcomp::test {

/// The naive training forward of positions reading `rows` [P] of `query`, D parts.
struct NaivePqForward {
  std::vector<Index> assigned;  ///< [P x D] the nearest candidate centroid of each part
  std::vector<float> out;       ///< [P x d] the assigned centroids
  double regulariser = 0.0;     ///< mean of (out - Q[x])^2
};

/// centroid_row(j, k): the row of part j's centroid k in `centroids` [rows x d/D];
/// candidates(p): how many of each part's first centroids position p may take.
template <class CentroidRow, class Candidates>
NaivePqForward naive_pq_forward(const Parameter& query, const Parameter& centroids,
                                const std::vector<Index>& rows, Index parts, CentroidRow centroid_row,
                                Candidates candidates) {
  const Index d = query.width(), w = d / parts;
  NaivePqForward f;
  double squares = 0.0;
  for (std::size_t p = 0; p < rows.size(); ++p) {
    const float* q = query.row(rows[p]);
    for (Index j = 0; j < parts; ++j) {
      Index best = 0;
      double best_distance = 1e300;
      for (Index k = 0; k < candidates(p); ++k) {
        double distance = 0.0;
        for (Index i = 0; i < w; ++i) distance += std::pow(q[j * w + i] - centroids.row(centroid_row(j, k))[i], 2);
        if (distance < best_distance) best_distance = distance, best = k;
      }
      f.assigned.push_back(best);
      for (Index i = 0; i < w; ++i) {
        const float c = centroids.row(centroid_row(j, best))[i];
        f.out.push_back(c);
        squares += std::pow(c - q[j * w + i], 2);
      }
    }
  }
  f.regulariser = rows.empty() ? 0.0 : squares / static_cast<double>(rows.size()) / static_cast<double>(d);
  return f;
}

/// The surrogate gradients, dense: dQ [N x d] = dE summed per row (straight-through), dC
/// [rows x d/D] = 2 (C - Q[x]_j) / (P d) summed over the positions assigned each centroid.
struct NaivePqGradients {
  std::vector<double> dQ, dC;
};

template <class CentroidRow>
NaivePqGradients naive_pq_gradients(const Parameter& query, const Parameter& centroids,
                                    const std::vector<Index>& rows, const NaivePqForward& forward,
                                    Index parts, const std::vector<float>& dE, CentroidRow centroid_row) {
  const Index d = query.width(), w = d / parts;
  NaivePqGradients g{std::vector<double>(query.size(), 0.0), std::vector<double>(centroids.size(), 0.0)};
  const double scale = 2.0 / static_cast<double>(rows.size()) / static_cast<double>(d);
  for (std::size_t p = 0; p < rows.size(); ++p) {
    const float* q = query.row(rows[p]);
    for (Index c = 0; c < d; ++c) g.dQ[static_cast<std::size_t>(rows[p] * d + c)] += dE[p * static_cast<std::size_t>(d) + static_cast<std::size_t>(c)];
    for (Index j = 0; j < parts; ++j) {
      const Index row = centroid_row(j, forward.assigned[p * static_cast<std::size_t>(parts) + static_cast<std::size_t>(j)]);
      for (Index i = 0; i < w; ++i) {
        g.dC[static_cast<std::size_t>(row * w + i)] += scale * (centroids.row(row)[i] - q[j * w + i]);
      }
    }
  }
  return g;
}

/// The stacked row of every position of `ids` [B x F].
inline std::vector<Index> stacked_rows(const Schema& s, const std::vector<Index>& ids) {
  std::vector<Index> rows(ids.size());
  for (std::size_t p = 0; p < ids.size(); ++p) {
    rows[p] = s.field_offset(static_cast<Index>(p % static_cast<std::size_t>(s.num_fields()))) + ids[p];
  }
  return rows;
}

/// One training forward of a table on random ids.
struct PqForwardRun {
  std::vector<Index> ids;   ///< [batch x F], uniform per field (seed 5)
  std::vector<Index> rows;  ///< the stacked row of each position
  std::vector<float> out;   ///< [batch F x d] what forward returned
};

inline PqForwardRun run_forward(EmbeddingTable& t, Index batch) {
  PqForwardRun run{random_ids(t.schema(), batch, 5), {}, {}};
  run.rows = stacked_rows(t.schema(), run.ids);
  run.out.resize(run.ids.size() * static_cast<std::size_t>(t.dim()));
  const IdBatch b = batch_of(run.ids, t.schema());
  t.forward(b, {run.out.data(), b.size(), t.dim()});
  return run;
}

/// Checks t's backward on run's ids for a random dE: one sparse gradient for "query", one dense
/// for "centroids", both equal to naive_pq_gradients of `forward`.
template <class CentroidRow>
void check_surrogate_backward(EmbeddingTable& t, const PqForwardRun& run, const NaivePqForward& forward,
                              Index parts, CentroidRow centroid_row) {
  const Parameter& query = *param_named(t, "query");
  const Parameter& centroids = *param_named(t, "centroids");
  const auto dE = random_values(run.out.size(), 8);
  const Gradients grads = backward_of(t, run.ids, dE);
  REQUIRE(grads.sparse.size() == 1);
  REQUIRE(grads.dense.size() == 1);
  CHECK(grads.sparse[0].param == &query);
  const NaivePqGradients expected = naive_pq_gradients(query, centroids, run.rows, forward, parts, dE, centroid_row);
  const std::vector<double> gq = densify(grads, &query), gc = densify(grads, &centroids);
  for (std::size_t e = 0; e < gq.size(); ++e) REQUIRE(gq[e] == Approx(expected.dQ[e]).margin(1e-6));
  for (std::size_t e = 0; e < gc.size(); ++e) REQUIRE(gc[e] == Approx(expected.dC[e]).margin(1e-7));
}

}  // namespace embcomp::test
