// The serving form of product-quantized tables (dpq): per row, D codes of ceil(log2 K) bits,
// bit-packed (kernels/pq.hpp), and the centroids: [D K x d/D] (part j's centroid k at row
// j K + k) or, shared between parts, [K x d/D]. Every field's rows are stacked as in `full`;
// row x's part j reads centroid code(x, j) of part j. The spec carries the layout
// ("pq:of=dpq,parts=D,centroids=K,shared=false"); a frozen checkpoint loads as this form.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/kernels/parallel.hpp"
#include "embcomp/kernels/pq.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// The layout dpq and its serving form share.
struct PqLayout {
  Index parts = 1;      ///< D
  Index centroids = 2;  ///< K
  bool shared = false;  ///< one set of K centroids for every part
  Index dim = 1;        ///< d

  Index part_width() const { return dim / parts; }
  int bits() const { return kernels::code_bits(centroids); }
  Index centroid_rows() const { return shared ? centroids : parts * centroids; }
  /// Row of part j's centroid k in the centroid parameter.
  Index centroid_row(Index j, Index k) const { return shared ? k : j * centroids + k; }
  /// Serving bytes for `rows` rows: packed codes (whole words) and fp32 centroids.
  double bytes(Index rows) const {
    return static_cast<double>(kernels::packed_words(rows * parts, bits())) * 8.0 +
           static_cast<double>(centroid_rows() * part_width()) * sizeof(float);
  }
  /// out[d] = row x decoded from `codes` and `table` [centroid_rows() x d/D].
  void decode(const std::uint64_t* codes, const float* table, Index x, float* out) const {
    kernels::decode_codes(codes, x * parts, bits(), parts, table, part_stride(), part_width(), out);
  }
  /// Centroid rows between part j's and part j + 1's (0 when shared).
  Index part_stride() const { return shared ? 0 : centroids; }
};

class PqServingTable final : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "pq";
  static constexpr const char* kSummary = "serving form of a product-quantized table (codes + centroids)";
  static std::vector<OptionInfo> option_info() {
    return {{"of", "", "the method whose serving form this is"},
            {"parts", "1", "D: codes per row"},
            {"centroids", "2", "K: centroids per part"},
            {"shared", "false", "one set of centroids for every part"}};
  }

  /// An empty form of the spec's layout, filled by load_state (frozen checkpoints).
  PqServingTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        layout_(checked_layout(options, args.schema.dim)),
        centroids_(add_parameter("centroids", layout_.centroid_rows(), layout_.part_width(),
                                 ParamKind::dense)),
        codes_(add_index<std::uint64_t>("codes")) {
    options.text("of");  // a label of the spec: the form does not depend on the method it serves
    offsets_ = args.schema.field_offsets();
    codes_.values.assign(static_cast<std::size_t>(words()), 0);
    mark_frozen();
  }

  /// The form of `centroids` and packed `codes` in `layout`, serving method `of`.
  PqServingTable(const TableArgs& args, const PqLayout& layout, const float* centroids,
                 std::vector<std::uint64_t> codes, const std::string& of)
      : PqServingTable(args, Options(kKey, option_info(), spec_options(layout, of))) {
    std::copy_n(centroids, centroids_.size(), centroids_.data());
    codes_.values = std::move(codes);
    on_state_loaded();
    set_spec(Options(kKey, option_info(), spec_options(layout, of)).canonical());
  }

  /// The spec's layout, checked before anything is sized from it (parts = 0 divides by zero).
  static PqLayout checked_layout(const Options& options, Index dim) {
    const PqLayout layout{options.integer("parts"), options.integer("centroids"),
                          options.flag("shared"), dim};
    if (layout.parts < 1 || dim % layout.parts != 0 || layout.centroids < 2 ||
        layout.centroids > 256) {
      throw InvalidArgument("pq: parts must divide the dim and centroids be in [2, 256]");
    }
    return layout;
  }

  static std::string spec_options(const PqLayout& layout, const std::string& of) {
    return "of=" + of + ",parts=" + std::to_string(layout.parts) + ",centroids=" +
           std::to_string(layout.centroids) + ",shared=" + (layout.shared ? "true" : "false");
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      layout_.decode(codes_.data(), centroids_.data(), offsets_[ids.field_of(p)] + ids[p], out.row(p));
    }
  }
  void backward_impl(const IdBatch&, ConstMatrix, Gradients&) override {
    throw Error("backward on the pq serving form ('" + spec() + "')");
  }
  /// Every code must name one of the K centroids (a damaged file must not read past them).
  void on_state_loaded() override {
    if (static_cast<Index>(codes_.size()) != words()) {
      throw CheckpointError("checkpoint damaged: pq codes of another size");
    }
    const Index count = schema().total_rows() * layout_.parts;
    for (Index i = 0; i < count; ++i) {
      if (kernels::read_code(codes_.data(), i, layout_.bits()) >= static_cast<std::uint32_t>(layout_.centroids)) {
        throw CheckpointError("checkpoint damaged: pq code out of range");
      }
    }
  }

 private:
  Index words() const { return kernels::packed_words(schema().total_rows() * layout_.parts, layout_.bits()); }

  PqLayout layout_;
  Parameter& centroids_;
  IndexArray<std::uint64_t>& codes_;
  std::vector<Index> offsets_;
};

}  // namespace embcomp
