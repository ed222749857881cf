// One optimizer implementation serves every method: it consumes Gradients (sparse unique rows
// or dense) and updates Parameters through their codec. State is fp32, laid out per row as
// [slots x width] so that a sparse update touches one contiguous block per row.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/gradients.hpp"
#include "embcomp/core/huge_pages.hpp"
#include "embcomp/core/serialize.hpp"
#include "embcomp/kernels/gather.hpp"
#include "embcomp/kernels/hash.hpp"
#include "embcomp/kernels/optim_rules.hpp"
#include "embcomp/kernels/quantize.hpp"

namespace embcomp {

class Optimizer {
 public:
  explicit Optimizer(float learning_rate) : learning_rate_(learning_rate) {
    if (!(learning_rate > 0.0f) || !std::isfinite(learning_rate)) {
      throw InvalidArgument("optimizer: learning rate " + std::to_string(learning_rate) +
                            " must be finite and > 0");
    }
  }
  virtual ~Optimizer() = default;

  /// Applies one step to every parameter in `grads`. All gradient values are checked first:
  /// a NaN or Inf throws NonFiniteGradient and no parameter or state is changed.
  void step(const Gradients& grads) { step({&grads}); }

  /// One step over several gradient sets, e.g. the embedding table's and the model's: the step
  /// count (Adam's t) advances once, and a non-finite value anywhere refuses the whole step.
  /// Each parameter is stepped at learning_rate() * its lr_scale(). A gradient of a
  /// method-updated parameter is a bug in the method (std::logic_error, nothing changed).
  void step(std::initializer_list<const Gradients*> parts) {
    for (const Gradients* grads : parts) {
      for (const auto& g : grads->sparse) check_gradient(*g.param, g.values);
      for (const auto& g : grads->dense) check_gradient(*g.param, g.values);
    }
    ++steps_;
    for (const Gradients* grads : parts) {
      for (const auto& g : grads->sparse) {
        if (!g.rows.empty()) apply_sparse(*g.param, g, state_for(*g.param));
      }
      for (const auto& g : grads->dense) {
        if (!g.values.empty()) apply_dense(*g.param, g, state_for(*g.param));
      }
    }
  }

  /// Steps taken so far (Adam's bias correction uses this global count).
  std::uint64_t steps() const { return steps_; }
  float learning_rate() const { return learning_rate_; }
  void set_learning_rate(float lr) { learning_rate_ = lr; }

  /// fp32 values of state per state unit (SGD 0, Adagrad 1, Adam 2, row-wise Adagrad 1).
  virtual int slots() const = 0;
  /// Whether it keeps one state per embedding row (row-wise Adagrad) rather than per element.
  virtual bool row_wise() const = 0;
  virtual std::string name() const = 0;
  /// Whether `param`'s state is per row: a row-wise optimizer's embedding rows
  /// (ParamKind::rows); dense parameters keep a state per element.
  bool by_row(const Parameter& param) const {
    return row_wise() && param.kind() == ParamKind::rows;
  }
  /// State units of `param`: its elements and learned steps (Parameter::state_elements), or,
  /// kept by_row, its rows and learned steps. Its state is [units x slots()] values.
  std::size_t state_units(const Parameter& param) const {
    if (!by_row(param)) return param.state_elements();
    return static_cast<std::size_t>(param.rows()) * (param.learns_step() ? 2 : 1);
  }
  /// fp32 state values of one row of `param`.
  Index row_state_width(const Parameter& param) const {
    return by_row(param) ? slots() : slots() * param.width();
  }
  /// Bytes of state this optimizer holds, or will hold once stepped, for `param` (none for a
  /// method-updated parameter, which it never steps).
  std::size_t state_bytes(const Parameter& param) const {
    if (!param.optimized()) return 0;
    return static_cast<std::size_t>(slots()) * state_units(param) * sizeof(float);
  }
  /// State of `param` ([rows x row_state_width(param)], then [rows x slots] for learned step
  /// sizes); null until its first update, and after the parameter was reshaped (state is keyed
  /// by Parameter::id()).
  const std::vector<float>* state(const Parameter& param) const {
    const auto it = state_.find(param.id());
    return it == state_.end() ? nullptr : &it->second;
  }
  /// Copies the state of row `from_row` of `from` onto row `to_row` of `to` (parameters of the
  /// same width), for methods that move an embedding to another storage row (CAFE's promotion
  /// of a feature from its hash row to a hot row). A stateless optimizer (SGD) does nothing;
  /// when `from` has no state yet, `to`'s row gets fresh (zero) state.
  void copy_state_row(const Parameter& from, Index from_row, Parameter& to, Index to_row) {
    if (slots() == 0) return;
    if (from.width() != to.width() || from_row < 0 || from_row >= from.rows() || to_row < 0 ||
        to_row >= to.rows()) {
      throw InvalidArgument("optimizer: cannot copy state of '" + from.name() + "' row " +
                            std::to_string(from_row) + " onto '" + to.name() + "' row " +
                            std::to_string(to_row));
    }
    const auto row_floats = static_cast<std::size_t>(row_state_width(to));
    float* destination = state_for(to) + static_cast<std::size_t>(to_row) * row_floats;
    const std::vector<float>* source = state(from);
    if (source == nullptr || source->empty()) {
      std::fill_n(destination, row_floats, 0.0f);
      return;
    }
    std::copy_n(source->data() + static_cast<std::size_t>(from_row) * row_floats, row_floats,
                destination);
  }

  /// Drops all state and the step count (a stage that resets the optimizer).
  void reset() {
    state_.clear();
    steps_ = 0;
  }

  /// Drops the state of one parameter (it starts fresh at its next update); the step count
  /// is kept.
  void forget(const Parameter& param) { state_.erase(param.id()); }

  /// Drops the state of every parameter not in `live` (those a stage reshaped or stopped
  /// using); returns how many states were dropped.
  std::size_t keep_only(const std::vector<const Parameter*>& live) {
    std::unordered_map<std::uint64_t, std::vector<float>> kept;
    for (const Parameter* p : live) {
      const auto it = state_.find(p->id());
      if (it != state_.end()) kept.emplace(it->first, std::move(it->second));
    }
    const std::size_t dropped = state_.size() - kept.size();
    state_ = std::move(kept);
    return dropped;
  }

  /// Writes the step count and the state of `params` for a checkpoint. The order of `params`
  /// is the key the loader uses (pass the table's parameters, then the model's): per parameter
  /// its name, state unit count (state_units) and state values (none before its first update).
  void save_state(Writer& out, const std::vector<const Parameter*>& params) const {
    out.string(name());
    out.pod(static_cast<std::uint32_t>(slots()));
    out.pod(steps_);
    out.pod(static_cast<std::uint64_t>(params.size()));
    for (const Parameter* param : params) {
      out.string(param->name());
      out.pod(static_cast<std::uint64_t>(state_units(*param)));
      const std::vector<float>* values = state(*param);
      const bool held = values != nullptr && !values->empty();
      out.pod(static_cast<std::uint8_t>(held ? 1 : 0));
      if (held) out.bytes(values->data(), values->size() * sizeof(float));
    }
  }

  /// What save_state wrote, read but not yet given to parameters: a training checkpoint reads
  /// it before the table's state, which may reshape the parameters it belongs to.
  struct StagedState {
    std::uint64_t steps = 0;
    struct Entry {
      std::string name;
      std::uint64_t size = 0;     ///< state units
      std::vector<float> values;  ///< empty: no state held
    };
    std::vector<Entry> entries;
  };

  /// Reads what save_state wrote. The optimizer name and slot count must match this one's:
  /// otherwise CheckpointError. Nothing is changed. A state larger than what the stream has
  /// left is refused before anything is allocated for it.
  StagedState read_state(Reader& in) const {
    const std::string stored_name = in.string(64);
    if (stored_name != name()) {
      throw CheckpointError("optimizer state is of '" + stored_name + "', this optimizer is '" +
                            name() + "'");
    }
    expect_equal(in, static_cast<std::uint32_t>(slots()), "optimizer slot count");
    StagedState staged;
    staged.steps = in.pod<std::uint64_t>();
    const auto count = in.pod<std::uint64_t>();
    constexpr std::uint64_t kMaxParameters = 1 << 20, kMaxElements = std::uint64_t{1} << 40;
    if (count > kMaxParameters) {
      throw CheckpointError("checkpoint damaged: optimizer state of " + std::to_string(count) +
                            " parameters");
    }
    staged.entries.resize(count);
    for (auto& entry : staged.entries) {
      entry.name = in.string(4096);
      entry.size = in.pod<std::uint64_t>();
      if (entry.size > kMaxElements) {
        throw CheckpointError("checkpoint damaged: optimizer state of '" + entry.name +
                              "' has " + std::to_string(entry.size) + " elements");
      }
      if (in.pod<std::uint8_t>() == 0) continue;
      const std::uint64_t bytes = static_cast<std::uint64_t>(slots()) * entry.size * sizeof(float);
      if (bytes > in.bytes_left()) {
        throw CheckpointError("checkpoint damaged or truncated: optimizer state of '" +
                              entry.name + "' needs " + std::to_string(bytes) +
                              " bytes, more than the file has left");
      }
      assign_on_huge_pages(entry.values, static_cast<std::size_t>(slots()) * entry.size, 0.0f);
      in.bytes(entry.values.data(), entry.values.size() * sizeof(float));
    }
    return staged;
  }

  /// Gives staged state to `params` (the list save_state was given, possibly other objects of
  /// the same names and sizes, e.g. a freshly built table and model). Count, names and sizes
  /// must match: otherwise CheckpointError naming what differs. All or nothing: on any error
  /// this optimizer is left unchanged.
  void adopt_state(StagedState&& staged, const std::vector<Parameter*>& params) {
    if (staged.entries.size() != params.size()) {
      throw CheckpointError("checkpoint does not match this table: optimizer parameter count is " +
                            std::to_string(staged.entries.size()) + " in the file, " +
                            std::to_string(params.size()) + " here");
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& entry = staged.entries[i];
      if (entry.name != params[i]->name()) {
        throw CheckpointError("optimizer state holds parameter '" + entry.name + "' where '" +
                              params[i]->name() + "' was expected");
      }
      if (entry.size != state_units(*params[i])) {
        throw CheckpointError("checkpoint does not match this table: optimizer state size of '" +
                              entry.name + "' is " + std::to_string(entry.size) +
                              " in the file, " + std::to_string(state_units(*params[i])) + " here");
      }
    }
    std::unordered_map<std::uint64_t, std::vector<float>> adopted;
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto& values = staged.entries[i].values;
      if (!values.empty()) adopted.emplace(params[i]->id(), std::move(values));
    }
    state_ = std::move(adopted);
    steps_ = staged.steps;
  }

  /// read_state then adopt_state.
  void load_state(Reader& in, const std::vector<Parameter*>& params) {
    adopt_state(read_state(in), params);
  }

 protected:
  virtual void apply_sparse(Parameter& param, const SparseGrad& grad, float* state) = 0;
  virtual void apply_dense(Parameter& param, const DenseGrad& grad, float* state) = 0;

  /// Noise stream for stochastic rounding of `param` at this step.
  std::uint64_t rounding_stream(const Parameter& param) const {
    return kernels::combine(XXH64(param.name().data(), param.name().size(), 0), steps_);
  }

 private:
  float* state_for(Parameter& param) {
    auto& s = state_[param.id()];
    if (s.empty() && slots() > 0) {
      assign_on_huge_pages(s, static_cast<std::size_t>(slots()) * state_units(param), 0.0f);
    }
    return s.data();
  }

  static void check_gradient(const Parameter& param, const std::vector<float>& values) {
    if (!param.optimized()) {
      throw std::logic_error("optimizer: '" + param.name() + "' is updated by its method, yet "
                             "a gradient for it was passed to the optimizer");
    }
    check_finite(param, values);
  }

  static void check_finite(const Parameter& param, const std::vector<float>& values) {
    // Fast path: x * 0 is NaN exactly when x is NaN or Inf, so one vectorised sum tells
    // whether any value is not finite; only then is the first one looked for.
    float probe = 0.0f;
    const float* v = values.data();
    const std::size_t n = values.size();
#pragma omp simd reduction(+ : probe)
    for (std::size_t i = 0; i < n; ++i) probe += v[i] * 0.0f;
    if (probe == 0.0f) return;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        throw NonFiniteGradient("optimizer: gradient of '" + param.name() + "' holds " +
                                std::to_string(values[i]) + " at element " + std::to_string(i) +
                                "; the step was refused and nothing was changed");
      }
    }
  }

  float learning_rate_;
  std::uint64_t steps_ = 0;
  std::unordered_map<std::uint64_t, std::vector<float>> state_;  ///< by Parameter::id()
};

/// An optimizer defined by a per-row update rule:
///   Rule::kSlots, Rule::Coefficients coefficients(lr, step) (per step, e.g. bias corrections),
///   Rule::update_element(float& w, float g, float* state, Index stride, const Coefficients&)
///   (kernels/optim_rules.hpp, shared with the CUDA backend).
/// Rows are updated in parallel; quantized rows are decoded, updated and re-encoded.
///
/// A parameter with learned step sizes (ScaleMode::learned, ALPT) is updated in one pass per
/// row, in the order of ALPT's step: w' = rule(decode(q; step), g); the step's gradient is
/// LSQ's at w' (kernels::lsq_step_gradient) with g standing for dLoss/d(quantized w'), a one-pass
/// approximation of the reference's second model pass (methods/alpt.hpp); step' = rule(step,
/// that gradient) at lr * lr_scale * step_lr_scale with its own state (slots per row, after the
/// elements' state) and the same step count t; then q = stochastic_round(w' / step').
template <class Rule>
class RowwiseOptimizer : public Optimizer {
 public:
  RowwiseOptimizer(float learning_rate, Rule rule) : Optimizer(learning_rate), rule_(rule) {}
  int slots() const override { return Rule::kSlots; }
  bool row_wise() const override { return Rule::kRowWise; }
  const Rule& rule() const { return rule_; }

 protected:
  void apply_sparse(Parameter& param, const SparseGrad& grad, float* state) override;
  void apply_dense(Parameter& param, const DenseGrad& grad, float* state) override;

 private:
  /// The rule over `count` rows: row_of(i) the parameter row, grad_of(i) its gradient.
  template <class RowOf, class GradOf>
  void update_rows(Parameter& param, float* state, Index count, RowOf row_of, GradOf grad_of);

  Rule rule_;
};

// The members that do the work are defined outside the class, so that the explicit
// instantiation declarations of the library's optimizers (sgd.hpp, adagrad.hpp, adam.hpp,
// rowwise_adagrad.hpp) leave them to src/optim/optimizers.cpp, compiled where their loops
// vectorize (its doc comment says why).

template <class Rule>
void RowwiseOptimizer<Rule>::apply_sparse(Parameter& param, const SparseGrad& grad,
                                          float* state) {
  update_rows(param, state, grad.count(), [&](Index i) { return grad.rows[i]; },
              [&](Index i) { return grad.row(i); });
}

template <class Rule>
void RowwiseOptimizer<Rule>::apply_dense(Parameter& param, const DenseGrad& grad, float* state) {
  const Index width = param.width();
  update_rows(param, state, param.rows(), [](Index i) { return i; },
              [&](Index i) { return grad.values.data() + i * width; });
}

template <class Rule>
template <class RowOf, class GradOf>
void RowwiseOptimizer<Rule>::update_rows(Parameter& param, float* state, Index count,
                                         RowOf row_of, GradOf grad_of) {
  const auto coefficients = rule_.coefficients(learning_rate() * param.lr_scale(), steps());
  const Index width = param.width();
  const bool by_row = this->by_row(param);
  const Index state_width = kernels::row_state_width<Rule>(width, by_row);
  if (param.is_fp32()) {
    // Sparse rows of a large table are random accesses: prefetch the row and its state a
    // few rows ahead so that the misses overlap.
    constexpr Index kAhead = 4;
#pragma omp parallel for schedule(static) if (count > 256)
    for (Index i = 0; i < count; ++i) {
      if (i + kAhead < count) {
        const Index ahead = row_of(i + kAhead);
        kernels::prefetch_row(param.row(ahead), width);
        kernels::prefetch_row(state + ahead * state_width, state_width);
      }
      const Index r = row_of(i);
      kernels::update_row(rule_, param.row(r), grad_of(i), state + r * state_width, width,
                          coefficients, by_row);
    }
    return;
  }
  const std::uint64_t stream = rounding_stream(param);
  const bool learns_step = param.learns_step();
  const auto step_coefficients = rule_.coefficients(
      learning_rate() * param.lr_scale() * param.codec().step_lr_scale, steps());
  float* step_state = state + param.rows() * state_width;  // learned steps: [rows x slots]
#pragma omp parallel if (count > 256)
  {
    std::vector<float> row(static_cast<std::size_t>(width));
#pragma omp for schedule(static)
    for (Index i = 0; i < count; ++i) {
      const Index r = row_of(i);
      param.read_row(r, row.data());
      kernels::update_row(rule_, row.data(), grad_of(i), state + r * state_width, width,
                          coefficients, by_row);
      if (learns_step) {
        float step = param.quantum(r);
        const float g = kernels::lsq_step_gradient(row.data(), grad_of(i), width, step,
                                                   param.codec().bits());
        kernels::update_row(rule_, &step, &g, step_state + r * Rule::kSlots, 1, step_coefficients);
        param.set_step(r, std::fmax(step, kernels::kMinLearnedStep));
      }
      param.write_row(r, row.data(), stream);
    }
  }
}

}  // namespace embcomp
