// Batch: what every reader and the synthetic generator produce and every model consumes.
#pragma once

#include <vector>

#include "embcomp/core/types.hpp"

namespace embcomp {

/// One mini-batch of B samples, all row-major:
///   labels [B] in {0, 1};  dense [B x num_dense] (already log(1+x)-transformed);
///   ids [B x num_fields] per-field local ids, as EmbeddingTable::lookup takes them.
struct Batch {
  Index size = 0;
  Index num_dense = 0;
  Index num_fields = 0;
  std::vector<float> labels;
  std::vector<float> dense;
  std::vector<Index> ids;

  /// Sets the shape and sizes the buffers (contents unspecified; capacity is reused).
  void resize(Index batch, Index dense_features, Index fields) {
    size = batch;
    num_dense = dense_features;
    num_fields = fields;
    labels.resize(static_cast<std::size_t>(batch));
    dense.resize(static_cast<std::size_t>(batch * dense_features));
    ids.resize(static_cast<std::size_t>(batch * fields));
  }
  IdBatch id_batch() const { return {ids.data(), size, num_fields}; }
  ConstMatrix dense_matrix() const { return {dense.data(), size, num_dense}; }
};

}  // namespace embcomp
