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
// forward is the training forward; lookup is the eval (and serving) forward. A method whose
// training forward differs (straight-through estimators, Gumbel noise, batch statistics)
// overrides forward_impl and declares exact_gradient() false: its backward is a surrogate (or
// the gradient of forward where forward_matches_lookup() is false, as BatchNorm's batch
// statistics), tested against its own definition instead of finite differences of lookup.
//
// The stage model, driven by the trainer (train/trainer.hpp):
//   for s, stage in enumerate(table.stages()):
//     table.begin_stage(s, ctx)              // may reshape parameters, prune, search: a stage
//                                            // of 0 steps does all its work here (ctx.validate
//                                            // scores a candidate on validation)
//     optimizer.keep_only(live parameters)   // state of reshaped parameters is forgotten
//     repeat stage.steps(...) times, or until table.stage_done():
//       the step above (the dense model frozen unless stage.train_model)
//       every k steps: validate (eval mode); a new best state only if table.may_become_best()
//     restore the stage's best state
//   table.finalize()                         // prune to the budget, build the serving arrays
//   test on the table (it now looks up exactly as table.freeze() does)
// A single-stage method keeps the defaults: one Stage{}, no hooks.
//
// Storage: Parameters (core/parameter.hpp; their role says whether the optimizer steps them
// and whether they are served) and index state (core/index_state.hpp), both registered with
// this base, which saves, checksums and counts them: memory() and the checkpoint need nothing
// from the method.
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
#include "embcomp/core/index_state.hpp"
#include "embcomp/core/memory.hpp"
#include "embcomp/core/parameter.hpp"
#include "embcomp/core/schema.hpp"
#include "embcomp/core/stage.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp {

class Optimizer;

/// Occurrences of each id in the training split: counts[f][id], id in [0, n_f).
using IdCounts = std::vector<std::vector<std::uint64_t>>;

/// What every method is built from, besides its own options.
struct TableArgs {
  TableArgs() = default;
  TableArgs(Schema schema_, Budget budget_, std::uint64_t seed_ = 0,
            std::shared_ptr<const IdCounts> counts_ = {})
      : schema(std::move(schema_)), budget(budget_), seed(seed_), counts(std::move(counts_)) {}

  Schema schema;
  Budget budget;
  std::uint64_t seed = 0;
  /// Training-split counts for frequency-aware methods; may be null. Without them a method
  /// takes the id as its frequency rank: the vocabulary (data/vocabulary.hpp) and the
  /// synthetic generator number each field's ids by descending frequency, so id 0 is the most
  /// frequent. Not part of a checkpoint: a method keeps what it derives from them as index
  /// state.
  std::shared_ptr<const IdCounts> counts;

  /// The training-split count of `id` in field f, or, without counts, n_f - id (a stand-in
  /// that orders ids as their frequency ranks do).
  std::uint64_t count_or_rank(Index f, Index id) const {
    if (counts) return (*counts)[static_cast<std::size_t>(f)][static_cast<std::size_t>(id)];
    return static_cast<std::uint64_t>(schema.cardinalities[static_cast<std::size_t>(f)] - id);
  }
  /// Throws InvalidArgument unless counts, when given, have one entry per id of every field.
  void validate_counts() const;
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
    args_.validate_counts();
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

  /// Every storage of the method (whatever its role), in registration order.
  std::vector<Parameter*> parameters();
  std::vector<const Parameter*> parameters() const;

  /// Every byte held; with `optimizer`, its state for the parameters it steps is included.
  /// Derived from the registered storage: parameters and index state by their role.
  MemoryReport memory(const Optimizer* optimizer = nullptr) const;

  /// Whether backward() is the exact gradient of lookup() (the finite-difference check
  /// applies); false for a surrogate (straight-through estimators), tested against its own
  /// definition.
  virtual bool exact_gradient() const { return true; }
  /// Whether forward() returns what lookup() returns for the same ids; false where training
  /// differs from serving by design (DHE's BatchNorm: batch statistics in training, running
  /// ones at lookup).
  virtual bool forward_matches_lookup() const { return true; }

  // ---- stages (see the stage model above) -------------------------------------------------

  /// Stages of training; a single-stage method keeps the default.
  virtual std::vector<Stage> stages() const { return {Stage{}}; }
  /// Index of the stage the table is in (set by begin_stage, kept in checkpoints).
  std::size_t stage() const { return stage_; }
  /// Enters stage `index`: records it, then calls on_begin_stage. The trainer calls it in
  /// order; tests and users driving a table by hand call it too.
  void begin_stage(std::size_t index, const StageContext& ctx = {});
  /// True when the method ends the current stage before its length (PEP: sparse enough).
  virtual bool stage_done() const { return false; }
  /// Whether the current state may become the stage's best (DeepLight: only once the target
  /// density is reached); validation still runs and is logged.
  virtual bool may_become_best() const { return true; }
  /// After the last stage, before test: prune to the budget, build the serving arrays. The
  /// table then looks up exactly as its freeze() does. Idempotent.
  void finalize();
  bool finalized() const { return finalized_; }

  /// An extra loss term the method adds (e.g. a regulariser); 0 by default.
  virtual double auxiliary_loss() const { return 0.0; }
  /// Validation batches, for stages with uses_validation: dE[B*F x d] is dLoss/dout of
  /// lookup(ids) (eval mode), after the training step's after_step.
  virtual void on_validation_batch(const IdBatch& /*ids*/, ConstMatrix /*dE*/) {}
  /// After each optimizer step (sketch insertion, pruning schedules, ...).
  virtual void after_step(const StepContext& /*ctx*/) {}
  /// Method-specific state worth reporting after training (cafe: hot rows in use); none by
  /// default.
  virtual std::vector<TableStatistic> statistics() const { return {}; }

  /// The serving form: lookup-only (backward throws), smaller where the method can be (a
  /// method with its own form, e.g. CSR rows, returns it; a frozen checkpoint of it loads as
  /// that form directly). The default is a frozen copy made through save/load. Call
  /// finalize() first for the form the trainer tests.
  virtual std::unique_ptr<EmbeddingTable> freeze() const;
  bool frozen() const { return frozen_; }

  /// Writes a versioned checkpoint (magic, format version, spec, schema, budget, seed, state,
  /// checksum). Read it back with embcomp::load_table.
  void save(std::ostream& out) const;
  void save(const std::string& path) const;

  /// The table's state after the header, self-describing: stage, finalized flag, every
  /// parameter (name, shape, codec, values) and every index state (name, contents).
  /// Reshapeable parameters and index arrays take the stored sizes on load; everything else
  /// must match. Used by save/load, training checkpoints and the trainer's best state.
  void save_state(Writer& out) const;
  void load_state(Reader& in);
  void mark_frozen() { frozen_ = true; }

 protected:
  virtual void lookup_impl(const IdBatch& ids, Matrix out) const = 0;
  /// forward() on valid input; by default lookup_impl.
  virtual void forward_impl(const IdBatch& ids, Matrix out) { lookup_impl(ids, out); }
  virtual void backward_impl(const IdBatch& ids, ConstMatrix dE, Gradients& grads) = 0;
  /// The method's part of begin_stage; nothing by default.
  virtual void on_begin_stage(std::size_t /*index*/, const StageContext& /*ctx*/) {}
  /// The method's part of finalize; nothing by default.
  virtual void on_finalize() {}
  /// After load_state replaced the registered state: rebuild what derives from it (caches,
  /// pointers into reshaped storage); nothing by default.
  virtual void on_state_loaded() {}

  /// freeze() of a copy of this table after finalize() (this one is left as it is): for a
  /// method whose serving form exists only once finalized, frozen before that.
  std::unique_ptr<EmbeddingTable> freeze_finalized_copy() const;

  /// Registers a parameter; the reference stays valid for the table's lifetime.
  Parameter& add_parameter(std::string name, Index rows, Index width, ParamKind kind,
                           CodecSpec codec = {}, ParamTraits traits = {});

  /// Registers an index array of T (empty; the method sizes it); `served`: part of the
  /// serving form. The reference stays valid for the table's lifetime.
  template <class T>
  IndexArray<T>& add_index(std::string name, bool served = true) {
    auto array = std::make_unique<IndexArray<T>>();
    IndexArray<T>& ref = *array;
    register_index(std::move(name), std::move(array), served);
    return ref;
  }
  /// Registers a structure the method owns that saves, loads and counts itself (HotSketch).
  template <SavableState T>
  void add_index_state(std::string name, T& state, bool served = true) {
    register_index(std::move(name), std::make_unique<IndexStateOf<T>>(state), served);
  }

 private:
  struct IndexEntry {
    std::string name;
    std::unique_ptr<IndexState> state;
    bool served = true;
  };
  void register_index(std::string name, std::unique_ptr<IndexState> state, bool served);

  TableArgs args_;
  std::string spec_;
  std::deque<Parameter> params_;
  std::vector<IndexEntry> indexes_;
  std::size_t stage_ = 0;
  bool finalized_ = false;
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
