// The serving form of product quantization with two frequency groups (mgqe): every field's rows
// stacked as in `full`, each row in the high or the low group.
//   centroids   [D K_high x d/D] fp32: part j's centroid k at row j K_high + k.
//   high codes  ceil(log2 K_high)-bit codes, naming any of part j's K_high centroids;
//   low codes   ceil(log2 K_low)-bit codes, naming only the first K_low of them;
//               each group's codes packed in the order of its rows (kernels/pq.hpp): row x's
//               D codes start at code rank(x) D of its group's array, rank(x) = the rows of
//               x's group before x.
//   groups      FrequencySplit: which group a row is in and its rank there.
// The spec carries the layout ("gpq:of=mgqe,parts=D,high_centroids=K,low_centroids=k"); the
// split's encoding comes with the state. A frozen checkpoint loads as this form.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/serialize.hpp"
#include "embcomp/kernels/pq.hpp"
#include "embcomp/kernels/rank_bitset.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// Which of a schema's stacked rows are high, in the cheaper of two encodings:
///   prefix: per field f, ids [0, h_f) are high (ids numbered by frequency rank): high_before
///           [F + 1], the high rows of the fields before f, 8 B per field;
///   bitset: any set of rows: kernels/rank_bitset.hpp's words + ranks, 12 B per 64 rows.
/// A SavableState: registered as index state, saved and counted by the table base.
class FrequencySplit {
 public:
  /// Where a row's codes are: its group and its rank within the group.
  using Slot = kernels::CodeSlot;

  /// No row high (prefix encoding).
  explicit FrequencySplit(const Schema& schema)
      : cardinalities_(schema.cardinalities), offsets_(schema.field_offsets()), rows_(schema.total_rows()) {
    high_before_.assign(cardinalities_.size() + 1, 0);
  }

  /// Per field f, the top ceil(share n_f) ids by args.count_or_rank(f, id), ties to the smaller
  /// id (0 < share <= 1). Prefix encoding where every field's high ids are [0, h_f) (always
  /// without counts), else the bitset.
  static FrequencySplit top_share(const TableArgs& args, double share) {
    FrequencySplit split(args.schema);
    std::vector<std::uint64_t> words(static_cast<std::size_t>((split.rows_ + 63) / 64), 0);
    bool prefix = true;
    for (std::size_t f = 0; f < split.cardinalities_.size(); ++f) {
      const Index n = split.cardinalities_[f];
      const auto high = std::clamp<Index>(static_cast<Index>(std::ceil(share * static_cast<double>(n) - 1e-9)), 0, n);
      split.high_before_[f + 1] = split.high_before_[f] + high;
      for (Index id : top_ids(args, static_cast<Index>(f), high)) {
        const auto x = static_cast<std::uint64_t>(split.offsets_[f] + id);
        words[x >> 6] |= std::uint64_t{1} << (x & 63);
        prefix = prefix && id < high;
      }
    }
    if (!prefix) split.set_bitset(std::move(words));
    return split;
  }

  /// Row `row` of field `field`: its group and rank.
  Slot slot(Index field, Index row) const { return view().slot(field, row); }
  /// The encoding's arrays (kernels::SplitView, which locates a row's codes on either backend).
  kernels::SplitView view() const {
    if (!bitset()) return {offsets_.data(), high_before_.data(), nullptr, nullptr};
    return {offsets_.data(), high_before_.data(), words_.data(), ranks_.data()};
  }
  std::span<const Index> offsets() const { return offsets_; }
  std::span<const Index> high_before() const { return high_before_; }
  std::span<const std::uint64_t> words() const { return words_; }
  std::span<const std::uint32_t> ranks() const { return ranks_; }
  bool high(Index field, Index row) const { return slot(field, row).high; }

  bool bitset() const { return !words_.empty(); }
  /// Bytes of the bitset encoding of `rows` rows.
  static std::size_t bitset_bytes(Index rows) {
    return static_cast<std::size_t>((rows + 63) / 64) * (sizeof(std::uint64_t) + sizeof(std::uint32_t));
  }
  Index rows() const { return rows_; }
  Index high_rows() const {
    if (!bitset()) return high_before_.back();
    return static_cast<Index>(ranks_.back()) + std::popcount(words_.back());
  }
  Index low_rows() const { return rows_ - high_rows(); }

  std::size_t bytes() const {
    return high_before_.size() * sizeof(Index) + words_.size() * sizeof(std::uint64_t) +
           ranks_.size() * sizeof(std::uint32_t);
  }
  void save(Writer& out) const {
    save_vector(out, high_before_);
    save_vector(out, words_);
    save_vector(out, ranks_);
  }
  /// Throws CheckpointError unless the loaded encoding is a valid split of this schema.
  void load(Reader& in) {
    high_before_ = load_vector<Index>(in);
    words_ = load_vector<std::uint64_t>(in);
    ranks_ = load_vector<std::uint32_t>(in);
    if (!(bitset() ? valid_bitset() : valid_prefix())) {
      throw CheckpointError("checkpoint damaged: frequency groups do not fit the schema");
    }
  }

 private:
  /// The `count` ids of field f with the largest count_or_rank, ties to the smaller id.
  static std::vector<Index> top_ids(const TableArgs& args, Index f, Index count) {
    std::vector<Index> ids(static_cast<std::size_t>(args.schema.cardinalities[static_cast<std::size_t>(f)]));
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<Index>(i);
    if (!args.counts) {  // ids are frequency ranks: the first `count`
      ids.resize(static_cast<std::size_t>(count));
      return ids;
    }
    const auto hotter = [&](Index a, Index b) {
      const auto ca = args.count_or_rank(f, a), cb = args.count_or_rank(f, b);
      return ca != cb ? ca > cb : a < b;
    };
    std::nth_element(ids.begin(), ids.begin() + count, ids.end(), hotter);
    ids.resize(static_cast<std::size_t>(count));
    return ids;
  }

  void set_bitset(std::vector<std::uint64_t> words) {
    high_before_.clear();
    words_ = std::move(words);
    ranks_.resize(words_.size());
    kernels::bitset_build_ranks(words_.data(), words_.size(), ranks_.data());
  }

  bool valid_prefix() const {
    if (high_before_.size() != cardinalities_.size() + 1 || high_before_[0] != 0 || !ranks_.empty()) return false;
    for (std::size_t f = 0; f < cardinalities_.size(); ++f) {
      const Index high = high_before_[f + 1] - high_before_[f];
      if (high < 0 || high > cardinalities_[f]) return false;
    }
    return true;
  }
  bool valid_bitset() const {
    if (!high_before_.empty() || words_.size() != static_cast<std::size_t>((rows_ + 63) / 64) ||
        ranks_.size() != words_.size()) {
      return false;
    }
    if (rows_ % 64 != 0 && (words_.back() >> (rows_ % 64)) != 0) return false;  // rows past the end
    std::vector<std::uint32_t> expected(words_.size());
    kernels::bitset_build_ranks(words_.data(), words_.size(), expected.data());
    return expected == ranks_;
  }

  template <class T>
  static void save_vector(Writer& out, const std::vector<T>& v) {
    out.pod(static_cast<std::uint64_t>(v.size()));
    out.bytes(v.data(), v.size() * sizeof(T));
  }
  template <class T>
  static std::vector<T> load_vector(Reader& in) {
    IndexArray<T> array;  // its load checks the size against the file
    array.load(in);
    return std::move(array.values);
  }

  std::vector<Index> cardinalities_;
  std::vector<Index> offsets_;
  Index rows_ = 0;
  std::vector<Index> high_before_;     ///< prefix encoding: [F + 1]; empty with the bitset
  std::vector<std::uint64_t> words_;   ///< bitset encoding: [ceil(N / 64)]
  std::vector<std::uint32_t> ranks_;   ///< bitset encoding: high rows before each word
};

/// The layout mgqe and its serving form share.
struct GroupedPqLayout {
  Index parts = 1;             ///< D
  Index high_centroids = 256;  ///< K_high: centroids per part
  Index low_centroids = 64;    ///< K_low: the low group's prefix of them
  Index dim = 1;               ///< d

  Index part_width() const { return dim / parts; }
  int high_bits() const { return kernels::code_bits(high_centroids); }
  int low_bits() const { return kernels::code_bits(low_centroids); }
  Index centroid_rows() const { return parts * high_centroids; }
  Index high_words(const FrequencySplit& split) const {
    return kernels::packed_words(split.high_rows() * parts, high_bits());
  }
  Index low_words(const FrequencySplit& split) const {
    return kernels::packed_words(split.low_rows() * parts, low_bits());
  }
  /// Bytes of both groups' packed codes (whole words) and the fp32 centroids.
  double code_bytes(const FrequencySplit& split) const {
    return static_cast<double>(high_words(split) + low_words(split)) * 8.0 +
           static_cast<double>(centroid_rows() * part_width()) * sizeof(float);
  }
  /// Serving bytes: code_bytes and the split's.
  double bytes(const FrequencySplit& split) const { return code_bytes(split) + static_cast<double>(split.bytes()); }
  /// out[d] = row `row` of field `field` decoded from the codes and `table` [centroid_rows() x d/D].
  void decode(const FrequencySplit& split, const std::uint64_t* high_codes, const std::uint64_t* low_codes,
              const float* table, Index field, Index row, float* out) const {
    const FrequencySplit::Slot at = split.slot(field, row);
    kernels::decode_codes(at.high ? high_codes : low_codes, at.rank * parts, at.high ? high_bits() : low_bits(),
                          parts, table, high_centroids, part_width(), out);
  }
  /// Throws CheckpointError unless both code arrays have the split's sizes and every code names
  /// one of its group's centroids (a damaged file must not read past them).
  void check_codes(const FrequencySplit& split, const std::vector<std::uint64_t>& high_codes,
                   const std::vector<std::uint64_t>& low_codes) const {
    if (static_cast<Index>(high_codes.size()) != high_words(split) ||
        static_cast<Index>(low_codes.size()) != low_words(split)) {
      throw CheckpointError("checkpoint damaged: grouped pq codes of another size");
    }
    const auto in_range = [&](const std::vector<std::uint64_t>& codes, Index count, int bits, Index K) {
      for (Index i = 0; i < count; ++i) {
        if (kernels::read_code(codes.data(), i, bits) >= static_cast<std::uint32_t>(K)) return false;
      }
      return true;
    };
    if (!in_range(high_codes, split.high_rows() * parts, high_bits(), high_centroids) ||
        !in_range(low_codes, split.low_rows() * parts, low_bits(), low_centroids)) {
      throw CheckpointError("checkpoint damaged: grouped pq code out of range");
    }
  }
};

class GroupedPqServingTable final : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "gpq";
  static constexpr const char* kSummary =
      "serving form of a product-quantized table with frequency groups (codes of two widths + centroids)";
  static std::vector<OptionInfo> option_info() {
    return {{"of", "", "the method whose serving form this is"},
            {"parts", "1", "D: codes per row"},
            {"high_centroids", "2", "K_high: centroids per part"},
            {"low_centroids", "2", "K_low: the low group's first centroids of each part"}};
  }

  /// An empty form of the spec's layout, filled by load_state (frozen checkpoints).
  GroupedPqServingTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        layout_(checked_layout(options, args.schema.dim)),
        centroids_(add_parameter("centroids", layout_.centroid_rows(), layout_.part_width(), ParamKind::dense)),
        high_codes_(add_index<std::uint64_t>("high_codes")),
        low_codes_(add_index<std::uint64_t>("low_codes")),
        split_(args.schema) {
    options.text("of");  // a label of the spec: the form does not depend on the method it serves
    add_index_state("groups", split_);
    offsets_ = args.schema.field_offsets();
    high_codes_.values.assign(static_cast<std::size_t>(layout_.high_words(split_)), 0);
    low_codes_.values.assign(static_cast<std::size_t>(layout_.low_words(split_)), 0);
    mark_frozen();
  }

  /// The form of `centroids`, `split` and the packed codes in `layout`, serving method `of`.
  GroupedPqServingTable(const TableArgs& args, const GroupedPqLayout& layout, const float* centroids,
                        const FrequencySplit& split, std::vector<std::uint64_t> high_codes,
                        std::vector<std::uint64_t> low_codes, const std::string& of)
      : GroupedPqServingTable(args, Options(kKey, option_info(), spec_options(layout, of))) {
    std::copy_n(centroids, centroids_.size(), centroids_.data());
    split_ = split;
    high_codes_.values = std::move(high_codes);
    low_codes_.values = std::move(low_codes);
    on_state_loaded();
    set_spec(Options(kKey, option_info(), spec_options(layout, of)).canonical());
  }

  /// The spec's layout, checked before anything is sized from it.
  static GroupedPqLayout checked_layout(const Options& options, Index dim) {
    const GroupedPqLayout layout{options.integer("parts"), options.integer("high_centroids"),
                                 options.integer("low_centroids"), dim};
    if (layout.parts < 1 || dim % layout.parts != 0 || layout.low_centroids < 2 ||
        layout.low_centroids > layout.high_centroids || layout.high_centroids > 256) {
      throw InvalidArgument("gpq: parts must divide the dim and 2 <= low_centroids <= high_centroids <= 256");
    }
    return layout;
  }

  static std::string spec_options(const GroupedPqLayout& layout, const std::string& of) {
    return "of=" + of + ",parts=" + std::to_string(layout.parts) + ",high_centroids=" +
           std::to_string(layout.high_centroids) + ",low_centroids=" + std::to_string(layout.low_centroids);
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      const Index f = ids.field_of(p);
      layout_.decode(split_, high_codes_.data(), low_codes_.data(), centroids_.data(), f,
                     offsets_[static_cast<std::size_t>(f)] + ids[p], out.row(p));
    }
  }
  void backward_impl(const IdBatch&, ConstMatrix, Gradients&) override {
    throw Error("backward on the gpq serving form ('" + spec() + "')");
  }
  void on_state_loaded() override { layout_.check_codes(split_, high_codes_.values, low_codes_.values); }

 private:
  GroupedPqLayout layout_;
  Parameter& centroids_;
  IndexArray<std::uint64_t>& high_codes_;
  IndexArray<std::uint64_t>& low_codes_;
  FrequencySplit split_;
  std::vector<Index> offsets_;
};

}  // namespace embcomp
