// qr: quotient-remainder / compositional embedding (spec methods-inter.md §2; Shi et al.,
// KDD'20). Field f's id x reads a quotient row Q_f[x div c] and a remainder row R_f[x mod c];
// every id of a field gets a unique pair, combined by `op` (kernels/qr.hpp):
//   mul (default) q ⊙ r,  add q + r,  concat [q (first ceil(d/2) dims); r (last floor(d/2))].
//
// Sizing (per-field tables, as the reference with use_multi=1): Q_f is [ceil(n_f/c) x wq] and
// R_f is [c x wr], with ONE collision count c shared by every compressed field. A field is
// compressed only if n_f > threshold and its Q_f + R_f take fewer floats than its full
// [n_f x d] table (for mul/add: ceil(n_f/c) + c < n_f, the spec's rule; core/budget.hpp
// FieldRule, shared with tt and dhe); otherwise it keeps the full table. c is the smallest integer >= 1 whose total fits the budget, found by an exact
// integer scan (see plan()).
//
// Deviations from the reference, on purpose:
// * c: the reference bisects over real c with eps 0.5 and takes ceil(left), which can land below
//   the root (the spec's "overshoot" pitfall: on Criteo, c = 2 at cr = 0.5 needs 59 rows more
//   than the budget) and hangs if g(mid) is exactly 0. The scan here never exceeds the budget.
// * init: the reference draws Q and R from U(±b), b = 1/sqrt(max n_f), so mul outputs are
//   ~b² ≈ 1e-7 and gradients (scaled by the other factor) barely move them (pitfall). Here every
//   op starts at the scale of a full table: mul draws both factors from U(±sqrt(b)) (|q r| <= b),
//   add from U(±b/2) (|q + r| <= b), concat and full fields from U(±b).
//
// Storage: the quotient tables of all compressed fields are stacked in one parameter
// "quotient" [sum ceil(n_f/c) x wq], the remainder tables in "remainder" [sum c x wr] and the
// full fields in "full" [sum n_f x d]; each exists only when some field uses it. All are
// row-indexed with sparse, deduplicated gradients.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "embcomp/core/budget.hpp"
#include "embcomp/core/options.hpp"
#include "embcomp/core/row_table.hpp"
#include "embcomp/kernels/qr.hpp"
#include "embcomp/kernels/row_groups.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

/// The sizing decision of a QrTable, computed before anything is allocated.
struct QrPlan {
  kernels::QrOp op = kernels::QrOp::mul;
  Index collisions = 1;          ///< c: remainder rows of every compressed field
  std::vector<bool> compressed;  ///< per field: Q_f and R_f (true) or a full n_f-row table
  Index floats = 0;              ///< fp32 values of all tables together
  std::size_t bytes() const { return static_cast<std::size_t>(floats) * sizeof(float); }
};

class QrTable : public EmbeddingTable {
 public:
  using QrOp = kernels::QrOp;

  static constexpr const char* kKey = "qr";
  static constexpr const char* kSummary =
      "quotient-remainder: two small tables per field, Q[x div c] combined with R[x mod c]";
  static std::vector<OptionInfo> option_info() {
    return {{"op", "mul", "how q and r combine: mul (q*r) | add (q+r) | concat ([q; r])"},
            {"threshold", "0", "fields with n_f <= threshold keep a full table"}};
  }

  QrTable(const TableArgs& args, const Options& options)
      : EmbeddingTable(args),
        plan_(plan(args.schema, args.budget, options.integer("threshold"), parse_op(options))) {
    allocate_tables();
    initialise(args.seed);
  }

  /// Sizes a QrTable without building it. Scans c = 1, 2, ... and returns the first c whose
  /// tables fit `budget`, each candidate costing O(F). Memory is not monotone in c (each
  /// field's ceil(n/c)*wq + c*wr is smallest near sqrt(n*wq/wr)), so when nothing fits the scan
  /// stops only once no larger c can beat the best seen: past every field's optimum, the
  /// continuous relaxation sum_f min(n_f*d, n_f*wq/c + c*wr) bounds every larger c from below
  /// (on Criteo it stops right at c = ceil(sqrt(max n_f*wq/wr)), ~3,200 candidates). Then
  /// InfeasibleBudget names the ratio of the best c. Throws InvalidArgument for op=concat with
  /// dim < 2.
  static QrPlan plan(const Schema& schema, const Budget& budget, long long threshold, QrOp op) {
    const Cost cost(schema, threshold, op);
    const double limit_floats = budget.bytes(schema) / static_cast<double>(sizeof(float));
    const double past_every_optimum = cost.last_optimum();
    Index best = std::numeric_limits<Index>::max();
    for (Index c = 1;; ++c) {
      const Index floats = cost.total(c);
      if (static_cast<double>(floats) <= limit_floats) return cost.plan(c);
      best = std::min(best, floats);
      // Totals are integers: a bound above best - 1 means no larger c goes below best.
      const bool hopeless = static_cast<double>(c) >= past_every_optimum &&
                            cost.relaxed_total(c) > static_cast<double>(best) - 0.5;
      if (hopeless) break;
    }
    throw_infeasible(kKey, static_cast<double>(best) * sizeof(float), {schema, budget, 0});
  }

  const QrPlan& sizing() const { return plan_; }
  Index collisions() const { return plan_.collisions; }
  /// Where each field's ids go (the CUDA backend mirrors the table from it).
  const std::vector<kernels::QrField>& field_layout() const { return fields_; }

 protected:
  void lookup_impl(const IdBatch& ids, Matrix out) const override {
    with_op(plan_.op, [&](auto op) { lookup_as<decltype(op)::value>(ids, out); });
  }

  void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) override {
    route_positions(ids);
    with_op(plan_.op, [&](auto op) { backward_as<decltype(op)::value>(dE, grads); });
  }

 private:
  /// Floats each field takes as a function of c: the sizing math, written once.
  class Cost {
   public:
    Cost(const Schema& schema, long long threshold, QrOp op)
        : schema_(schema),
          rule_{threshold, schema.dim},
          op_(op),
          wq_(kernels::qr_quotient_width(op, schema.dim)),
          wr_(kernels::qr_remainder_width(op, schema.dim)) {
      if (wr_ < 1) {
        throw InvalidArgument("qr: op=concat splits each embedding into a quotient and a "
                              "remainder half, so it needs dim >= 2 (dim is " +
                              std::to_string(schema.dim) + ")");
      }
    }

    bool compressed(Index n, Index c) const { return rule_.compresses(n, static_cast<double>(split(n, c))); }
    Index field(Index n, Index c) const { return compressed(n, c) ? split(n, c) : full(n); }

    Index total(Index c) const {
      Index floats = 0;
      for (Index n : schema_.cardinalities) floats += field(n, c);
      return floats;
    }

    /// sum_f min(full, n*wq/c + c*wr): <= total(c') for every c' >= c once c >= last_optimum().
    double relaxed_total(Index c) const {
      double floats = 0;
      for (Index n : schema_.cardinalities) {
        const double relaxed = static_cast<double>(wq_ * n) / static_cast<double>(c) +
                               static_cast<double>(c * wr_);
        floats += eligible(n) ? std::min(static_cast<double>(full(n)), relaxed)
                              : static_cast<double>(full(n));
      }
      return floats;
    }

    /// The largest c at which some field's relaxed cost n*wq/c + c*wr is smallest.
    double last_optimum() const {
      double c = 0;
      for (Index n : schema_.cardinalities) {
        if (eligible(n)) c = std::max(c, std::sqrt(static_cast<double>(n * wq_) / static_cast<double>(wr_)));
      }
      return c;
    }

    QrPlan plan(Index c) const {
      QrPlan p{op_, c, {}, total(c)};
      for (Index n : schema_.cardinalities) p.compressed.push_back(compressed(n, c));
      return p;
    }

   private:
    bool eligible(Index n) const { return n > rule_.threshold; }
    Index full(Index n) const { return n * schema_.dim; }
    Index split(Index n, Index c) const { return kernels::qr_quotient_rows(n, c) * wq_ + c * wr_; }

    const Schema& schema_;
    FieldRule rule_;
    QrOp op_;
    Index wq_;
    Index wr_;
  };

  /// Where field f's rows live in the stacked parameters.
  using FieldLayout = kernels::QrField;

  static QrOp parse_op(const Options& options) {
    return options.pick<QrOp>("op", {{"mul", QrOp::mul}, {"add", QrOp::add}, {"concat", QrOp::concat}});
  }

  /// Calls fn(std::integral_constant<QrOp, op>) so that per-position loops are compiled per op.
  template <class Fn>
  static void with_op(QrOp op, Fn&& fn) {
    switch (op) {
      case QrOp::mul: fn(std::integral_constant<QrOp, QrOp::mul>{}); return;
      case QrOp::add: fn(std::integral_constant<QrOp, QrOp::add>{}); return;
      case QrOp::concat: fn(std::integral_constant<QrOp, QrOp::concat>{}); return;
    }
  }

  void allocate_tables() {
    const Schema& s = schema();
    Index quotient_rows = 0, remainder_rows = 0, full_rows = 0;
    for (Index f = 0; f < s.num_fields(); ++f) {
      const Index n = s.cardinalities[f];
      FieldLayout& layout = fields_.emplace_back();
      layout.compressed = plan_.compressed[f];
      if (layout.compressed) {
        layout.quotient_base = quotient_rows;
        layout.remainder_base = remainder_rows;
        quotient_rows += kernels::qr_quotient_rows(n, plan_.collisions);
        remainder_rows += plan_.collisions;
      } else {
        layout.full_base = full_rows;
        full_rows += n;
      }
    }
    if (quotient_rows > 0) {
      quotient_ = &add_parameter("quotient", quotient_rows,
                                 kernels::qr_quotient_width(plan_.op, s.dim), ParamKind::rows);
      remainder_ = &add_parameter("remainder", remainder_rows,
                                  kernels::qr_remainder_width(plan_.op, s.dim), ParamKind::rows);
    }
    if (full_rows > 0) full_ = &add_parameter("full", full_rows, s.dim, ParamKind::rows);
  }

  /// Outputs start at the scale of a full table's U(±b) init, for every op (see the top).
  void initialise(std::uint64_t seed) {
    const float b = default_init_bound(schema());
    const float factor = plan_.op == QrOp::mul ? std::sqrt(b) : plan_.op == QrOp::add ? b / 2 : b;
    if (quotient_ != nullptr) {
      quotient_->fill_uniform(factor, kernels::combine(seed, 1));
      remainder_->fill_uniform(factor, kernels::combine(seed, 2));
    }
    if (full_ != nullptr) full_->fill_uniform(b, kernels::combine(seed, 3));
  }

  Index quotient_row(const FieldLayout& f, Index id) const {
    return kernels::qr_quotient_row(f, id, plan_.collisions);
  }
  Index remainder_row(const FieldLayout& f, Index id) const {
    return kernels::qr_remainder_row(f, id, plan_.collisions);
  }

  template <QrOp Op>
  void lookup_as(const IdBatch& ids, Matrix out) const {
    const Index d = dim();
#pragma omp parallel for schedule(static) if (ids.size() > 1024)
    for (Index p = 0; p < ids.size(); ++p) {
      const FieldLayout& f = fields_[ids.field_of(p)];
      const Index id = ids[p];
      if (f.compressed) {
        kernels::qr_combine<Op>(quotient_->row(quotient_row(f, id)),
                                remainder_->row(remainder_row(f, id)), d, out.row(p));
      } else {
        std::copy_n(full_->row(f.full_base + id), d, out.row(p));
      }
    }
  }

  /// Splits the batch's positions into compressed ones (with their Q and R rows) and full ones.
  void route_positions(const IdBatch& ids) {
    for (auto* list : {&split_positions_, &quotient_rows_, &remainder_rows_, &full_positions_,
                       &full_rows_}) {
      list->clear();
    }
    for (Index p = 0; p < ids.size(); ++p) {
      const FieldLayout& f = fields_[ids.field_of(p)];
      if (f.compressed) {
        split_positions_.push_back(p);
        quotient_rows_.push_back(quotient_row(f, ids[p]));
        remainder_rows_.push_back(remainder_row(f, ids[p]));
      } else {
        full_positions_.push_back(p);
        full_rows_.push_back(f.full_base + ids[p]);
      }
    }
  }

  /// Sparse gradients of quotient, remainder and full for the positions routed last.
  template <QrOp Op>
  void backward_as(ConstMatrix dE, Gradients& grads) {
    const Index d = dim();
    if (!split_positions_.empty()) {
      scatter_param_grad(*quotient_, quotient_rows_, groups_, grads, [&](Index i, float* acc) {
        kernels::qr_grad_quotient<Op>(dE.row(split_positions_[i]),
                                      remainder_->row(remainder_rows_[i]), d, acc);
      });
      scatter_param_grad(*remainder_, remainder_rows_, groups_, grads, [&](Index i, float* acc) {
        kernels::qr_grad_remainder<Op>(dE.row(split_positions_[i]),
                                       quotient_->row(quotient_rows_[i]), d, acc);
      });
    }
    if (!full_positions_.empty()) {
      scatter_param_grad(*full_, full_rows_, groups_, grads, [&](Index i, float* acc) {
        const float* g = dE.row(full_positions_[i]);
        for (Index k = 0; k < d; ++k) acc[k] += g[k];
      });
    }
  }

  QrPlan plan_;
  std::vector<FieldLayout> fields_;
  Parameter* quotient_ = nullptr;
  Parameter* remainder_ = nullptr;
  Parameter* full_ = nullptr;

  // backward scratch, reused from batch to batch
  std::vector<Index> split_positions_, quotient_rows_, remainder_rows_;
  std::vector<Index> full_positions_, full_rows_;
  kernels::RowGroups groups_;
};

}  // namespace embcomp
