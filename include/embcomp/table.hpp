// The contract every compression method implements.
//
// Conventions, stated once:
//   ids    IdBatch [B x F] row-major, per-field local ids: field f takes ids in [0, n_f).
//          Position p = b * F + f. Negative or >= n_f ids are rejected with InvalidArgument.
//   out    Matrix [B*F x d] row-major: row p is the embedding of ids[p].
//   dE     ConstMatrix [B*F x d]: dLoss/dout, the same layout as out.
//
// One training step, in pseudocode:
//   table.forward(ids, E);                   // E = embeddings (lookup for a training step)
//   dE = model.forward_backward(E, labels);
//   table.backward(ids, dE, grads);          // grads of the table's own Parameters
//   optimizer.step(grads);                   // one optimizer serves every method
//   table.after_step(ctx);                   // sketch inserts, pruning schedules, ...
//
// lookup and backward are called once per batch (never per id); the checks on ids and shapes
// happen here, once, and methods implement lookup_impl / backward_impl on valid input only.
#pragma once

#include <deque>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/gradients.hpp"
#include "embcomp/core/memory.hpp"
#include "embcomp/core/parameter.hpp"
#include "embcomp/core/schema.hpp"
#include "embcomp/core/stage.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp {

class Optimizer;

/// What every method is built from, besides its own options.
struct TableArgs {
  Schema schema;
  Budget budget;
  std::uint64_t seed = 0;
};

/// Throws InvalidArgument naming the first id outside [0, n_f) or a field-count mismatch.
void validate_ids(const IdBatch& ids, const Schema& schema);

/// A named number describing a method's state at a moment (cafe: hot rows in use), for reports.
struct TableStatistic {
  std::string name;
  double value = 0.0;
};

class EmbeddingTable {
 public:
  explicit EmbeddingTable(TableArgs args) : args_(std::move(args)) {
    args_.schema.validate();
    args_.budget.validate();
  }
  virtual ~EmbeddingTable() = default;
  EmbeddingTable(const EmbeddingTable&) = delete;
  EmbeddingTable& operator=(const EmbeddingTable&) = delete;

  const TableArgs& args() const { return args_; }
  const Schema& schema() const { return args_.schema; }
  const Budget& budget() const { return args_.budget; }
  std::uint64_t seed() const { return args_.seed; }
  Index dim() const { return args_.schema.dim; }

  /// The canonical factory string ("qr:op=mul,..."), set by the registry on construction.
  const std::string& spec() const { return spec_; }
  void set_spec(std::string spec) { spec_ = std::move(spec); }

  /// out[B*F x d] = embeddings of ids[B x F]. Thread-safe: lookups never modify the table.
  void lookup(const IdBatch& ids, Matrix out) const;

  /// lookup() for a training step, before backward() on the same ids: a method may keep what
  /// backward needs from it (cafe: the rows its sketch routed each position to). Same output as
  /// lookup(); not thread-safe.
  void forward(const IdBatch& ids, Matrix out);

  /// Gradients of this table's parameters for dE[B*F x d]; `grads` is cleared first.
  void backward(const IdBatch& ids, ConstMatrix dE, Gradients& grads);

  /// Every trainable storage of the method, in a fixed order.
  std::vector<Parameter*> parameters();
  std::vector<const Parameter*> parameters() const;

  /// Every byte held; with `optimizer`, its state for these parameters is included.
  MemoryReport memory(const Optimizer* optimizer = nullptr) const;

  /// Stages of training; a single-stage method keeps the default.
  virtual std::vector<Stage> stages() const { return {Stage{}}; }
  /// Called by the trainer when stage `index` begins.
  virtual void begin_stage(std::size_t /*index*/) {}
  /// An extra loss term the method adds (e.g. a regulariser); 0 by default.
  virtual double auxiliary_loss() const { return 0.0; }
  /// Validation batches, for stages with uses_validation.
  virtual void on_validation_batch(const IdBatch& /*ids*/, ConstMatrix /*dE*/) {}
  /// After each optimizer step (sketch insertion, pruning schedules, ...).
  virtual void after_step(const StepContext& /*ctx*/) {}
  /// Method-specific state worth reporting after training (cafe: hot rows in use); none by
  /// default.
  virtual std::vector<TableStatistic> statistics() const { return {}; }

  /// The serving form: lookup-only (backward throws), smaller where the method can be.
  /// The default is a frozen copy made through save/load.
  virtual std::unique_ptr<EmbeddingTable> freeze() const;
  bool frozen() const { return frozen_; }

  /// Writes a versioned checkpoint (magic, format version, spec, schema, budget, seed, state,
  /// checksum). Read it back with embcomp::load_table.
  void save(std::ostream& out) const;
  void save(const std::string& path) const;

  /// Method state after the header: parameters by default; methods with more state (sketches,
  /// remaps) extend both and call the base. Used by save/load only.
  virtual void save_state(Writer& out) const;
  virtual void load_state(Reader& in);
  void mark_frozen() { frozen_ = true; }

 protected:
  virtual void lookup_impl(const IdBatch& ids, Matrix out) const = 0;
  /// forward() on valid input; by default lookup_impl.
  virtual void forward_impl(const IdBatch& ids, Matrix out) { lookup_impl(ids, out); }
  virtual void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) = 0;
  /// Bytes of index structures outside parameters (remaps, packed codes, sketches).
  virtual std::size_t index_bytes() const { return 0; }
  /// Bytes of the serving form; by default parameters + index structures.
  virtual std::size_t serving_bytes() const;

  /// Registers a parameter; the reference stays valid for the table's lifetime.
  Parameter& add_parameter(std::string name, Index rows, Index width, ParamKind kind,
                           CodecSpec codec = {});

 private:
  TableArgs args_;
  std::string spec_;
  std::deque<Parameter> params_;
  bool frozen_ = false;
};

/// Throws InfeasibleBudget unless `min_bytes`, the smallest serving size `method` can take for
/// this schema, fits args.budget; the message names the highest ratio the method reaches.
void require_budget(const std::string& method, double min_bytes, const TableArgs& args);

/// Throws the InfeasibleBudget of require_budget for a method known not to fit.
[[noreturn]] void throw_infeasible(const std::string& method, double min_bytes,
                                   const TableArgs& args);

/// The reference's default init bound: Uniform(-b, b) with b = 1 / sqrt(max_f n_f).
inline float default_init_bound(const Schema& schema) {
  return 1.0f / std::sqrt(static_cast<float>(schema.max_cardinality()));
}

}  // namespace embcomp
