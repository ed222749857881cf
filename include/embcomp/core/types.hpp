// Basic shapes shared by every part of embcomp: ids, id batches and row-major matrix views.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace embcomp {

/// Ids, row indices and sizes. Ids are per-field local ids in [0, n_f).
using Index = std::int64_t;

/// A row-major matrix view over memory owned elsewhere: element (r, c) is data[r * cols + c].
template <class T>
struct MatrixView {
  T* data = nullptr;
  Index rows = 0;
  Index cols = 0;

  T* row(Index r) const { return data + r * cols; }
  std::size_t size() const { return static_cast<std::size_t>(rows * cols); }
  /// A view of the same memory as const.
  operator MatrixView<const T>() const { return {data, rows, cols}; }
};

using Matrix = MatrixView<float>;
using ConstMatrix = MatrixView<const float>;

/// A batch of ids, row-major [batch x fields]: ids[b * fields + f] is the local id of field f
/// in sample b. Lookup position p = b * fields + f is row p of the [B*F x d] output.
struct IdBatch {
  const Index* ids = nullptr;
  Index batch = 0;
  Index fields = 0;

  Index size() const { return batch * fields; }
  Index field_of(Index position) const { return position % fields; }
  Index operator[](Index position) const { return ids[position]; }
  std::span<const Index> span() const { return {ids, static_cast<std::size_t>(size())}; }
};

}  // namespace embcomp
