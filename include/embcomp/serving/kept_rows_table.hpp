// The serving form of row-pruned tables with per-field widths (optembed after its search):
// field f's kept ids (a set: nothing for a prefix, sorted ids or a ranked bitset), their rows
// [h_f x w_f] and a zero vector for every other id (methods/kept_rows.hpp). Built by the
// method's freeze(); a frozen checkpoint of it loads as this form directly, never as the
// trainable table.
#pragma once

#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/methods/kept_rows.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class KeptRowsServingTable final : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "kept_rows";
  static constexpr const char* kSummary = "serving form of row-pruned per-field tables of per-field widths";
  static std::vector<OptionInfo> option_info() {
    return {{"of", "", "the method whose serving form this is"}};
  }

  /// An empty form, filled by load_state (frozen checkpoints).
  KeptRowsServingTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        layout_(add_index<KeptField>("kept_fields")),
        ids_(add_index<std::uint32_t>("kept_ids")),
        words_(add_index<std::uint64_t>("kept_words")),
        ranks_(add_index<std::uint32_t>("kept_ranks")),
        kept_(layout_, ids_, words_, ranks_, add_field_rows(args.schema)) {
    options.text("of");  // a label of the spec: the form does not depend on the method it serves
    mark_frozen();
  }

  /// The form of `from` (a built layout), serving method `of`.
  KeptRowsServingTable(const TableArgs& args, const KeptRows& from, const std::string& of)
      : KeptRowsServingTable(args, Options(kKey, option_info(), "of=" + of)) {
    for (Index f = 0; f < from.fields(); ++f) {
      const Index n = schema().cardinalities[f];
      kept_.assign(n, from.members(f, n), from.field(f).width);
      std::copy_n(from.rows(f).data(), from.rows(f).size(), kept_.rows(f).data());
    }
    on_state_loaded();
    set_spec(Options(kKey, option_info(), "of=" + of).canonical());
  }

  const KeptRows& kept() const { return kept_; }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override { kept_.lookup(ids, out); }
  void backward_impl(const IdBatch&, ConstMatrix, Gradients&) override {
    throw InvalidArgument("kept_rows: a serving form has no backward");
  }
  void on_state_loaded() override { kept_.check(schema().cardinalities, dim(), kKey); }

 private:
  std::vector<Parameter*> add_field_rows(const Schema& schema) {
    std::vector<Parameter*> rows;
    for (Index f = 0; f < schema.num_fields(); ++f) {
      rows.push_back(&add_parameter("field" + std::to_string(f) + ".rows", 1, 1, ParamKind::rows, {},
                                    ParamTraits{ParamRole::trained, 1.0f, /*reshapeable=*/true}));
    }
    return rows;
  }

  IndexArray<KeptField>& layout_;
  IndexArray<std::uint32_t>& ids_;
  IndexArray<std::uint64_t>& words_;
  IndexArray<std::uint32_t>& ranks_;
  KeptRows kept_;
};

}  // namespace embcomp
