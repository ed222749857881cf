// The host side of cuda::CafeTable: the CPU cafe table's routing and sketch inserts, behind a
// declaration that the .cu file can include (no CPU library header; cafe_router.cpp is plain
// C++ and reads the CPU table).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/core/types.hpp"

namespace embcomp {
class CafeTable;
class EmbeddingTable;
}  // namespace embcomp

namespace embcomp::cuda::detail {

class CafeRouter {
 public:
  /// cafe-ml sums at most this many levels beyond the first.
  static constexpr int kMaxExtraLevels = 3;

  /// One of the table's parameters in host memory: "rows", "hot", "level2" ...
  struct Table {
    std::string name;
    Index rows = 0;
    const float* values = nullptr;
    float lr_scale = 1.0f;
  };

  /// Routes through `table` (a cafe or cafe-ml table; InvalidArgument otherwise), which must
  /// outlive the router.
  explicit CafeRouter(EmbeddingTable& table);
  ~CafeRouter();
  CafeRouter(CafeRouter&&) noexcept;
  CafeRouter& operator=(CafeRouter&&) noexcept;

  const std::string& method() const { return method_; }
  Index dim() const { return dim_; }
  const std::vector<Index>& cardinalities() const { return cardinalities_; }
  /// Rows of "rows": flat row table_rows() + h is hot row h.
  Index table_rows() const { return table_rows_; }
  bool frequency() const { return frequency_; }
  /// "rows", then "hot" where the table has one, then "level2" ...
  const std::vector<Table>& tables() const { return tables_; }
  Index extra_levels() const { return static_cast<Index>(tables_.size()) - (has_hot_ ? 2 : 1); }
  EmbeddingTable& table() const;

  /// Routes ids [batch x fields] (host memory) through the sketches as they are now. keys
  /// [(1 + extra_levels()) x B*F]: each position's primary flat row, then per extra level its
  /// row there or ~0u. InvalidArgument, naming it, for an id outside its field.
  void route(const Index* ids, Index batch, Index fields, std::uint32_t* keys);
  /// Inserts the importance norms[B*F] of the batch route() saw last into the sketches, and
  /// returns its promotions in order: the position each came from, and its flat hot row.
  void insert(const float* norms, std::vector<std::int32_t>& sources,
              std::vector<std::int32_t>& destinations);

 private:
  struct Batch;  ///< the CPU routes of the last batch routed

  CafeTable* table_;
  std::unique_ptr<Batch> batch_;
  std::string method_;
  Index dim_;
  std::vector<Index> cardinalities_;
  Index table_rows_;
  bool frequency_;
  bool has_hot_;
  std::vector<Table> tables_;
};

}  // namespace embcomp::cuda::detail
