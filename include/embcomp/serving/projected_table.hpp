// The serving form of per-field tables lifted to d by a linear layer (autodim after its search):
// field f's rows [n_f x w_f], projection [w_f x d] and bias [1 x d], out = E_f[x] P_f + b_f
// (methods/projected_fields.hpp). The widths are the stored shapes. Built by the method's
// freeze(); a frozen checkpoint of it loads as this form directly, never as the trainable table.
#pragma once

#include <string>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/methods/projected_fields.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

class ProjectedServingTable final : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "projected";
  static constexpr const char* kSummary = "serving form of per-field tables with linear layers";
  static std::vector<OptionInfo> option_info() {
    return {{"of", "", "the method whose serving form this is"}};
  }

  /// An empty form, filled by load_state (frozen checkpoints).
  ProjectedServingTable(const TableArgs& args, const Options& options) : EmbeddingTable(args) {
    options.text("of");  // a label of the spec: the form does not depend on the method it serves
    const ParamTraits stored{ParamRole::trained, 1.0f, /*reshapeable=*/true};
    for (Index f = 0; f < args.schema.num_fields(); ++f) {
      const std::string name = "field" + std::to_string(f);
      ProjectedField& field = fields_.fields().emplace_back();
      field.rows = &add_parameter(name + ".rows", 1, 1, ParamKind::rows, {}, stored);
      field.projection = &add_parameter(name + ".projection", 1, 1, ParamKind::dense, {}, stored);
      field.bias = &add_parameter(name + ".bias", 1, 1, ParamKind::dense, {}, stored);
    }
    mark_frozen();
  }

  /// The form of `fields` (every field with a projection and a bias), serving method `of`.
  ProjectedServingTable(const TableArgs& args, const std::vector<ProjectedField>& fields,
                        const std::string& of)
      : ProjectedServingTable(args, Options(kKey, option_info(), "of=" + of)) {
    for (std::size_t f = 0; f < fields.size(); ++f) {
      const ProjectedField& from = fields[f];
      const ProjectedField& to = fields_.fields()[f];
      for (auto [source, target] : {std::pair{from.rows, to.rows}, std::pair{from.projection, to.projection},
                                    std::pair{from.bias, to.bias}}) {
        target->reshape(source->rows(), source->width());
        std::copy_n(source->data(), source->size(), target->data());
      }
    }
    on_state_loaded();
    set_spec(Options(kKey, option_info(), "of=" + of).canonical());
  }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override { fields_.lookup(ids, out); }
  void backward_impl(const IdBatch&, ConstMatrix, Gradients&) override {
    throw InvalidArgument("projected: a serving form has no backward");
  }

  /// Every field's shapes must agree, so a damaged file cannot make a lookup read out of bounds.
  void on_state_loaded() override {
    for (Index f = 0; f < schema().num_fields(); ++f) {
      const ProjectedField& field = fields_.fields()[f];
      if (field.rows->rows() != schema().cardinalities[f] || field.projection->rows() != field.dim() ||
          field.projection->width() != dim() || field.bias->rows() != 1 || field.bias->width() != dim()) {
        throw CheckpointError("checkpoint damaged: projected table shape of field " + std::to_string(f));
      }
    }
  }

 private:
  ProjectedFields fields_;
};

}  // namespace embcomp
