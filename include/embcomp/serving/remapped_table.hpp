// The serving form of block-deduplicated tables (dedup): kept blocks of `block_rows` rows (an
// option of its spec, "remapped:of=dedup,block_rows=r") and a remap from every block of the stacked [N x d] table to a kept one. Global row x (field f's id
// i at x = offset_f + i) reads rows[remap[x / r] r + x mod r]. Built by dedup's freeze(); a frozen
// checkpoint of it loads as this form directly, never as the trainable table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/row_map.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class RemappedServingTable final : public GatherTable<RemappedServingTable> {
 public:
  static constexpr const char* kKey = "remapped";
  static constexpr const char* kSummary = "serving form of a block-deduplicated table";
  static std::vector<OptionInfo> option_info() {
    return {{"of", "", "the method whose serving form this is"},
            {"block_rows", "1", "rows per block"}};
  }

  /// An empty form, filled by load_state (frozen checkpoints).
  RemappedServingTable(const TableArgs& args, const Options& options)
      : GatherTable(args),
        block_rows_(static_cast<Index>(options.integer("block_rows"))),
        rows_(add_parameter("rows", 1, args.schema.dim, ParamKind::rows, {},
                            ParamTraits{ParamRole::trained, 1.0f, /*reshapeable=*/true})),
        remap_(add_index<std::int32_t>("remap")) {
    options.text("of");  // a label of the spec: the form does not depend on the method it serves
    if (block_rows_ < 1) throw InvalidArgument("remapped: block_rows must be >= 1");
    set_rows_parameter(rows_);
    offsets_ = args.schema.field_offsets();
    mark_frozen();
  }

  /// The form of kept rows [kept r x d] (row-major) and remap[blocks], serving method `of`.
  RemappedServingTable(const TableArgs& args, const float* rows, Index row_count,
                       std::vector<std::int32_t> remap, Index block_rows, const std::string& of)
      : RemappedServingTable(args, Options(kKey, option_info(),
                                           "of=" + of + ",block_rows=" + std::to_string(block_rows))) {
    rows_.reshape(row_count, args.schema.dim);
    std::copy_n(rows, rows_.size(), rows_.data());
    remap_.values = std::move(remap);
    on_state_loaded();
    set_spec(Options(kKey, option_info(), "of=" + of + ",block_rows=" + std::to_string(block_rows))
                 .canonical());
  }

  Index row_of(const IdBatch& ids, Index p) const { return row_of(ids, p, ids.field_of(p)); }
  Index row_of(const IdBatch& ids, Index p, Index field) const {
    return blocks_.row_of(offsets_[field] + ids[p]);
  }

 protected:
  /// Every block must map inside the kept rows, so a damaged file cannot make a lookup read out
  /// of bounds.
  void on_state_loaded() override {
    const Index r = block_rows_;
    const Index blocks = (schema().total_rows() + r - 1) / r;
    if (static_cast<Index>(remap_.size()) != blocks || rows_.rows() % r != 0) {
      throw CheckpointError("checkpoint damaged: remapped table shape");
    }
    for (std::int32_t kept : remap_.values) {
      if (kept < 0 || static_cast<Index>(kept) >= rows_.rows() / r) {
        throw CheckpointError("checkpoint damaged: remap entry out of range");
      }
    }
    blocks_ = {remap_.data(), r};
  }

 private:
  Index block_rows_;  ///< r, from the spec
  Parameter& rows_;
  IndexArray<std::int32_t>& remap_;
  kernels::BlockRemap blocks_;
  std::vector<Index> offsets_;
};

}  // namespace embcomp
