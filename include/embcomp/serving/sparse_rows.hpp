// SparseRows: a [rows x width] matrix stored by its nonzeros, the serving form of pruned tables
// (DeepLight, PEP, AutoSrh). Two layouts, whichever is smaller for the nonzero count:
//   csr   row_ptr [rows + 1] u32, cols [nnz] u16, values [nnz] f32:  4 (rows + 1) + 6 nnz B
//   coo   row_of  [nnz] u32 (sorted), cols [nnz] u16, values [nnz] f32:            10 nnz B
// Nonzeros are in row-major order. A row is read by a range in csr and by a binary search of
// row_of in coo. Departure from the reference (spec methods-intra §0): column indices take 2 B
// (width <= 65536) where the reference counted 4 B, and the layout is chosen by size instead of
// by the ratio rule r = CR d >= 3.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/serialize.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp {

enum class SparseLayout : std::uint8_t { csr = 0, coo = 1 };

class SparseRows {
 public:
  static constexpr Index kMaxWidth = Index{1} << 16;
  static constexpr Index kMaxCount = std::numeric_limits<std::uint32_t>::max();

  /// Bytes of a [rows x *] matrix with `nnz` nonzeros in `layout`.
  static double bytes_for(SparseLayout layout, Index rows, Index nnz) {
    const double per_nonzero = sizeof(std::uint16_t) + sizeof(float);
    if (layout == SparseLayout::csr) {
      return static_cast<double>(rows + 1) * sizeof(std::uint32_t) + per_nonzero * static_cast<double>(nnz);
    }
    return (sizeof(std::uint32_t) + per_nonzero) * static_cast<double>(nnz);
  }
  /// The smaller layout for `nnz` nonzeros of `rows` rows.
  static SparseLayout best_layout(Index rows, Index nnz) {
    return bytes_for(SparseLayout::csr, rows, nnz) <= bytes_for(SparseLayout::coo, rows, nnz)
               ? SparseLayout::csr
               : SparseLayout::coo;
  }
  /// The most nonzeros that fit `bytes` in the better layout (0 when none does).
  static Index max_nonzeros(Index rows, double bytes) {
    const double per_nonzero = sizeof(std::uint16_t) + sizeof(float);
    const double csr = (bytes - static_cast<double>(rows + 1) * sizeof(std::uint32_t)) / per_nonzero;
    const double coo = bytes / (sizeof(std::uint32_t) + per_nonzero);
    return std::max<Index>(0, static_cast<Index>(std::floor(std::max(csr, coo))));
  }

  /// The nonzeros of dense [rows x width] row-major `w`, in the smaller layout.
  static SparseRows from_dense(const float* w, Index rows, Index width) {
    if (width > kMaxWidth) {
      throw InvalidArgument("sparse rows: width " + std::to_string(width) + " exceeds " +
                            std::to_string(kMaxWidth));
    }
    Index nnz = 0;
    for (Index i = 0; i < rows * width; ++i) nnz += w[i] != 0.0f;
    if (nnz > kMaxCount || rows > kMaxCount) {
      throw InvalidArgument("sparse rows: " + std::to_string(nnz) + " nonzeros in " +
                            std::to_string(rows) + " rows exceed the 32-bit layout");
    }
    SparseRows s;
    s.rows_ = rows;
    s.width_ = width;
    s.layout_ = best_layout(rows, nnz);
    s.cols_.reserve(static_cast<std::size_t>(nnz));
    s.values_.reserve(static_cast<std::size_t>(nnz));
    if (s.layout_ == SparseLayout::csr) s.row_ptr_.push_back(0);
    for (Index r = 0; r < rows; ++r) {
      for (Index c = 0; c < width; ++c) {
        const float v = w[r * width + c];
        if (v == 0.0f) continue;
        if (s.layout_ == SparseLayout::coo) s.row_of_.push_back(static_cast<std::uint32_t>(r));
        s.cols_.push_back(static_cast<std::uint16_t>(c));
        s.values_.push_back(v);
      }
      if (s.layout_ == SparseLayout::csr) {
        s.row_ptr_.push_back(static_cast<std::uint32_t>(s.values_.size()));
      }
    }
    return s;
  }

  Index rows() const { return rows_; }
  Index width() const { return width_; }
  Index nonzeros() const { return static_cast<Index>(values_.size()); }
  SparseLayout layout() const { return layout_; }

  /// out[width] = row r (zeros where nothing is stored).
  void read_row(Index r, float* out) const {
    std::fill_n(out, width_, 0.0f);
    const auto [begin, end] = range_of(r);
    for (std::size_t k = begin; k < end; ++k) out[cols_[k]] = values_[k];
  }

  /// Bytes held: exactly bytes_for(layout(), rows(), nonzeros()); 0 for the empty form.
  std::size_t bytes() const {
    return row_ptr_.size() * sizeof(std::uint32_t) + row_of_.size() * sizeof(std::uint32_t) +
           cols_.size() * sizeof(std::uint16_t) + values_.size() * sizeof(float);
  }

  void save(Writer& out) const {
    out.pod(rows_);
    out.pod(width_);
    out.pod(static_cast<std::uint8_t>(layout_));
    out.pod(static_cast<std::uint64_t>(values_.size()));
    out.bytes(row_ptr_.data(), row_ptr_.size() * sizeof(std::uint32_t));
    out.bytes(row_of_.data(), row_of_.size() * sizeof(std::uint32_t));
    out.bytes(cols_.data(), cols_.size() * sizeof(std::uint16_t));
    out.bytes(values_.data(), values_.size() * sizeof(float));
  }

  /// Loads what save() wrote; every index is checked, so a damaged file cannot make a lookup
  /// read out of bounds.
  void load(Reader& in) {
    SparseRows s;
    s.rows_ = in.pod<Index>();
    s.width_ = in.pod<Index>();
    const auto layout = in.pod<std::uint8_t>();
    const auto nnz = in.pod<std::uint64_t>();
    if (s.rows_ < 0 || s.rows_ > kMaxCount || s.width_ < 0 || s.width_ > kMaxWidth ||
        layout > 1 || nnz > static_cast<std::uint64_t>(s.rows_ * s.width_)) {
      throw CheckpointError("checkpoint damaged: sparse rows header");
    }
    s.layout_ = static_cast<SparseLayout>(layout);
    const auto n = static_cast<std::size_t>(nnz);
    const bool pointers = s.layout_ == SparseLayout::csr && s.rows_ > 0;  // none in the empty form
    const std::uint64_t needed =
        nnz * (sizeof(std::uint16_t) + sizeof(float) +
               (s.layout_ == SparseLayout::coo ? sizeof(std::uint32_t) : 0)) +
        (pointers ? static_cast<std::uint64_t>(s.rows_ + 1) * sizeof(std::uint32_t) : 0);
    if (needed > in.bytes_left()) {  // refused before allocating for a forged size
      throw CheckpointError("checkpoint damaged: sparse rows of " + std::to_string(nnz) +
                            " values need more bytes than the file holds");
    }
    s.row_ptr_.assign(pointers ? static_cast<std::size_t>(s.rows_ + 1) : 0, 0);
    if (s.layout_ == SparseLayout::coo) s.row_of_.resize(n);
    s.cols_.resize(n);
    s.values_.resize(n);
    in.bytes(s.row_ptr_.data(), s.row_ptr_.size() * sizeof(std::uint32_t));
    in.bytes(s.row_of_.data(), s.row_of_.size() * sizeof(std::uint32_t));
    in.bytes(s.cols_.data(), n * sizeof(std::uint16_t));
    in.bytes(s.values_.data(), n * sizeof(float));
    s.check(n);
    *this = std::move(s);
  }

 private:
  std::pair<std::size_t, std::size_t> range_of(Index r) const {
    if (layout_ == SparseLayout::csr) return {row_ptr_[r], row_ptr_[r + 1]};
    const auto row = static_cast<std::uint32_t>(r);
    const auto [first, last] = std::equal_range(row_of_.begin(), row_of_.end(), row);
    return {static_cast<std::size_t>(first - row_of_.begin()),
            static_cast<std::size_t>(last - row_of_.begin())};
  }

  void check(std::size_t nnz) const {
    auto fail = [](const char* what) {
      throw CheckpointError(std::string("checkpoint damaged: sparse rows ") + what);
    };
    for (std::uint16_t c : cols_) {
      if (c >= width_) fail("column out of range");
    }
    if (layout_ == SparseLayout::csr && rows_ > 0) {
      if (row_ptr_.front() != 0 || row_ptr_.back() != nnz) fail("row pointers");
      if (!std::is_sorted(row_ptr_.begin(), row_ptr_.end())) fail("row pointers not sorted");
    } else {
      if (!std::is_sorted(row_of_.begin(), row_of_.end())) fail("rows not sorted");
      if (!row_of_.empty() && row_of_.back() >= rows_) fail("row out of range");
    }
  }

  Index rows_ = 0;
  Index width_ = 0;
  SparseLayout layout_ = SparseLayout::csr;
  std::vector<std::uint32_t> row_ptr_;  ///< csr: [rows + 1]; empty in the empty form (0 rows)
  std::vector<std::uint32_t> row_of_;   ///< coo: [nnz], sorted
  std::vector<std::uint16_t> cols_;     ///< [nnz]
  std::vector<float> values_;           ///< [nnz]
};

}  // namespace embcomp
