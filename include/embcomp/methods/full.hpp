// full: the uncompressed baseline. One [N x d] table holding every field's rows stacked, field f
// at rows [offset_f, offset_f + n_f). Quantized tables (int8, int16) reuse it with another codec.
#pragma once

#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/row_map.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class FullTable : public GatherTable<FullTable> {
 public:
  static constexpr const char* kKey = "full";
  static constexpr const char* kSummary = "uncompressed fp32 table (the baseline; ratio 1 only)";
  static std::vector<OptionInfo> option_info() { return {}; }

  FullTable(const TableArgs& args, const Options& /*options*/)
      : FullTable(args, CodecSpec{}, kKey) {}

  Index row_of(const IdBatch& ids, Index p) const { return row_of(ids, p, ids.field_of(p)); }
  /// The same, given field = ids.field_of(p) (GatherTable walks positions with their fields).
  Index row_of(const IdBatch& ids, Index p, Index field) const { return offsets_[field] + ids[p]; }
  /// row_of as per-field row maps (unhashed, field f at its offset): the CUDA backend mirrors the
  /// table from them.
  std::vector<kernels::FieldRows> field_rows() const { return kernels::stacked_fields(offsets_); }

 protected:
  /// A full table stored with `codec`, registered as method `key`.
  FullTable(const TableArgs& args, CodecSpec codec, const char* key)
      : GatherTable(args),
        table_(add_parameter("rows", args.schema.total_rows(), args.schema.dim, ParamKind::rows,
                             checked(args, codec, key))) {
    set_rows_parameter(table_);
    offsets_ = args.schema.field_offsets();
    table_.fill_uniform(default_init_bound(args.schema), args.seed);
  }

 private:
  /// `codec`, after checking that the table fits the budget (before anything is allocated).
  static CodecSpec checked(const TableArgs& args, CodecSpec codec, const char* key) {
    const auto bytes = Parameter::storage_bytes(args.schema.total_rows(), args.schema.dim, codec);
    require_budget(key, static_cast<double>(bytes), args);
    return codec;
  }

  Parameter& table_;
  std::vector<Index> offsets_;
};

}  // namespace embcomp
