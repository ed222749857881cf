// mde: mixed-dimension embedding (spec methods-inter.md §8; Ginart et al., 2021). Field f stores
// its rows at a narrower width d_f <= D that follows a power law in its cardinality, and a learned
// projection lifts them to D: out = E_f[x] P_f, or E_f[x] when d_f == D.
//
// Sizing, with n_min the smallest cardinality and exponent alpha:
//   d_f = max(1, round(lambda * n_f^-alpha)), lambda = D * n_min^alpha   (round half to even)
//   round_dim: d_f = 2^round(log2 d_f);   then d_f = min(d_f, D)
//   Memory(alpha) = sum_f n_f d_f + [d_f < D] d_f D   floats (tables and projections)
// alpha=auto bisects alpha in [0, 1] to the smallest alpha (the widest rows) whose Memory fits
// the budget; alpha=<number> uses that alpha. Memory is nearly but not strictly decreasing in
// alpha (a tiny field's projection can cost more than the rows it saves), so the bisection keeps
// the invariant "hi fits, lo does not" and returns hi, which always fits. If alpha = 1 does not
// fit, the error names its ratio: MDE cannot go much beyond D (every large field at d_f = 1).
//
// Deviations from the reference, on purpose (its pitfalls):
// * d_f is capped at D: with D not a power of two, round_dim could give d_f > D (D=12 -> 16).
// * the accept test counts the projections too; the reference accepted alpha on the
//   projection-free ratio and could exceed the budget (on Criteo at ratio 2 by 6,264 floats).
// * init: the reference drew E and P from U(±b), b = 1/sqrt(max n_f), so outputs were ~1e-7.
//   Here E_f ~ U(±b) and P_f is Xavier-uniform, U(±sqrt(6 / (d_f + D))), so outputs keep the
//   scale of a full table's U(±b) rows (their spread is about b * sqrt(2 d_f / (d_f + D)) <= b).
//
// Storage (methods/projected_fields.hpp): "field<f>.rows" E_f [n_f x d_f] (row-indexed, sparse
// gradients) and, when d_f < D, "field<f>.projection" P_f [d_f x D] (dense, row-major).
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "embcomp/core/budget.hpp"
#include "embcomp/core/options.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/methods/projected_fields.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// The sizing decision of an MdeTable, computed before anything is allocated.
struct MdePlan {
  double alpha = 0.0;
  std::vector<Index> dims;  ///< d_f per field, 1 <= d_f <= D
  Index floats = 0;         ///< Memory(alpha): every E_f and P_f
  std::size_t bytes() const { return static_cast<std::size_t>(floats) * sizeof(float); }
};

class MdeTable : public EmbeddingTable {
 public:
  static constexpr const char* kKey = "mde";
  static constexpr const char* kSummary =
      "mixed-dimension: per-field width by a power law in n_f, projected to d";
  static std::vector<OptionInfo> option_info() {
    return {{"round_dim", "true", "round each field's width to a power of two"},
            {"alpha", "auto", "power-law exponent in [0, 1]; auto solves it from the budget"}};
  }

  MdeTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        plan_(plan(args.schema, args.budget, parse_alpha(options), options.flag("round_dim"))) {
    allocate_tables();
    initialise(args.seed);
  }

  /// d_f of every field at exponent `alpha` (see the top), each in [1, D].
  static std::vector<Index> field_dims(const Schema& schema, double alpha, bool round_dim) {
    const double n_min = static_cast<double>(*std::min_element(schema.cardinalities.begin(),
                                                               schema.cardinalities.end()));
    const double D = static_cast<double>(schema.dim);
    const double lambda = D * std::pow(n_min, alpha);
    std::vector<Index> dims;
    for (Index n : schema.cardinalities) {
      double d = std::max(1.0, std::nearbyint(lambda * std::pow(static_cast<double>(n), -alpha)));
      if (round_dim) d = std::exp2(std::nearbyint(std::log2(d)));
      dims.push_back(std::min(schema.dim, static_cast<Index>(d)));
    }
    return dims;
  }

  /// Floats of every E_f [n_f x d_f] and P_f [d_f x D] (the latter only when d_f < D).
  static Index memory_floats(const Schema& schema, const std::vector<Index>& dims) {
    Index floats = 0;
    for (Index f = 0; f < schema.num_fields(); ++f) {
      const Index d = dims[f];
      floats += schema.cardinalities[f] * d + (d < schema.dim ? d * schema.dim : 0);
    }
    return floats;
  }

  /// Sizes an MdeTable without building it: at the given alpha, or (nullopt) at the smallest
  /// alpha in [0, 1] whose memory fits `budget`. Throws InfeasibleBudget when it does not fit.
  static MdePlan plan(const Schema& schema, const Budget& budget, std::optional<double> alpha,
                      bool round_dim) {
    const auto at = [&](double a) {
      std::vector<Index> dims = field_dims(schema, a, round_dim);
      const Index floats = memory_floats(schema, dims);
      return MdePlan{a, std::move(dims), floats};
    };
    const auto fits = [&](const MdePlan& p) {
      return static_cast<double>(p.bytes()) <= budget.bytes(schema);
    };
    const auto required = [&](const MdePlan& p) {
      require_budget(kKey, static_cast<double>(p.bytes()), {schema, budget, 0});
      return p;
    };
    if (alpha) return required(at(*alpha));
    if (MdePlan widest = at(0.0); fits(widest)) return widest;
    if (MdePlan narrowest = at(1.0); !fits(narrowest)) return required(narrowest);
    return at(bisect(0.0, 1.0, [&](double a) { return fits(at(a)); }).above);
  }

  const MdePlan& sizing() const { return plan_; }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override { fields_.lookup(ids, out); }

  /// Field by field (methods/projected_fields.hpp): dE_f rows = dE P_fᵀ summed per unique row;
  /// dP_f = E_f[x]ᵀ dE over the field's positions.
  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    fields_.backward(ids, dE, grads);
  }

 private:
  static std::optional<double> parse_alpha(const Options& options) {
    const std::string& text = options.text("alpha");
    if (text == "auto") return std::nullopt;
    double alpha = -1.0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), alpha);
    if (ec != std::errc() || end != text.data() + text.size() || !(alpha >= 0.0 && alpha <= 1.0)) {
      throw InvalidArgument("method 'mde': option alpha='" + text +
                            "' must be auto or a number in [0, 1]");
    }
    return alpha;
  }

  void allocate_tables() {
    const Schema& s = schema();
    for (Index f = 0; f < s.num_fields(); ++f) {
      const Index d = plan_.dims[f];
      const std::string name = "field" + std::to_string(f);
      ProjectedField& field = fields_.fields().emplace_back();
      field.rows = &add_parameter(name + ".rows", s.cardinalities[f], d, ParamKind::rows);
      if (d < s.dim) field.projection = &add_parameter(name + ".projection", d, s.dim, ParamKind::dense);
    }
  }

  /// E_f ~ U(±b) as a full table; P_f Xavier-uniform (see the top).
  void initialise(std::uint64_t seed) {
    const float b = default_init_bound(schema());
    for (std::size_t f = 0; f < fields_.fields().size(); ++f) {
      const ProjectedField& field = fields_.fields()[f];
      field.rows->fill_uniform(b, kernels::combine(seed, 2 * f));
      if (field.projection != nullptr) {
        const auto fan = static_cast<float>(field.dim() + dim());
        field.projection->fill_uniform(std::sqrt(6.0f / fan), kernels::combine(seed, 2 * f + 1));
      }
    }
  }

  MdePlan plan_;
  ProjectedFields fields_;
};

}  // namespace embcomp
