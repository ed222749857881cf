// Training checkpoints: everything the Trainer needs to continue a run bit-identically (same
// seed and thread count), and inspection of any embcomp checkpoint file.
//
// Training checkpoint format (all integers little-endian; core/serialize.hpp Writer/Reader):
//   magic "EMBTRAIN" | u32 format version
//   header: table spec, schema, budget ratio, seed | model name | the settings that must match
//           on resume (name/value strings: TrainerConfig fields, split sizes, stage count) |
//           loop state (TrainingLoopState) | memory report | u64 header digest
//   model: parameters (name, shape, fp32 values), then buffers (Model::buffers)
//   optimizer: Optimizer::save_state over the table's parameters, then the model's
//   best state of the current stage: table state bytes, model values
//   initial model values (present when a stage re-initialises the model)
//   table: EmbeddingTable::save_state
//   u64 XXH64 checksum of everything before it
// The table's state comes last so that a loader can check and stage everything else before it
// touches the table. A plain table checkpoint (EmbeddingTable::save) starts with "EMBCOMP\0".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "embcomp/core/memory.hpp"
#include "embcomp/table.hpp"
#include "embcomp/core/schema.hpp"
#include "embcomp/train/trainer.hpp"

namespace embcomp {

/// The two kinds of embcomp checkpoint file.
enum class CheckpointKind : std::uint8_t {
  table,     ///< EmbeddingTable::save (read with load_table)
  training,  ///< TrainerConfig::checkpoint_path (resume with TrainerConfig::resume_from)
};

/// Metadata of a checkpoint file, for `embcomp info`.
struct CheckpointInfo {
  CheckpointKind kind = CheckpointKind::table;
  std::uint32_t format_version = 0;
  std::string method_spec;           ///< the table's canonical factory string
  Schema schema;                     ///< fields (cardinalities), rows, dim
  double budget_ratio = 0.0;
  std::uint64_t seed = 0;            ///< the table's seed
  bool frozen = false;               ///< table checkpoints: the serving form
  MemoryReport memory;               ///< training checkpoints include the optimizer's state
  std::vector<TableStatistic> statistics;  ///< table checkpoints: the method's statistics()

  // Training checkpoints only.
  std::string model_name;
  std::size_t model_parameter_bytes = 0;
  std::string optimizer;
  float learning_rate = 0.0f;
  Index batch_size = 0;
  std::uint64_t step = 0;            ///< global optimizer steps done
  std::size_t stage = 0;             ///< index of the current stage
  std::size_t stages = 0;            ///< stages the method declares
  std::size_t evaluations = 0;       ///< validation evaluations done
  double best_validation_auc = 0.0;  ///< best of the current stage
  std::uint64_t best_step = 0;
  bool stage_finished = false;       ///< the current stage ran to its end (or stopped early)
};

/// The kind of checkpoint at `path`, from its magic. Throws CheckpointError for a missing,
/// short or foreign file.
CheckpointKind checkpoint_kind(const std::string& path);

/// Metadata of the table or training checkpoint at `path`. The whole file is checked (its
/// checksum) first; a truncated, damaged or foreign file throws CheckpointError.
CheckpointInfo inspect_checkpoint(const std::string& path);

/// A state of the table and model held in memory: the trainer's best state of a stage, or the
/// initial model that a stage with Stage::reset_model starts from.
struct TrainingSnapshot {
  std::string table_state;                       ///< EmbeddingTable::save_state, checksummed
  std::vector<std::vector<float>> model_values;  ///< Model::parameters(), then buffers()

  /// Copies the table's state and the model's values.
  void take(const EmbeddingTable& table, Model& model);
  /// Copies the model's values only (table_state is left empty).
  void take_model(Model& model);
  /// Restores what take() copied.
  void restore(EmbeddingTable& table, Model& model) const;
  void restore_model(Model& model) const;
  bool empty() const { return table_state.empty() && model_values.empty(); }
};

/// The trainer's loop between two steps, besides the table, model and optimizer.
struct TrainingLoopState {
  std::size_t stage = 0;          ///< index into table.stages()
  Index stage_step = 0;           ///< steps done in this stage
  bool stage_finished = false;    ///< the stage's last evaluation was done (end or patience)
  std::uint64_t step = 0;         ///< global optimizer steps
  std::size_t evaluations = 0;    ///< over all stages
  bool stopped_early = false;     ///< some stage ended by patience
  double train_seconds = 0.0;     ///< wall clock (not part of the bit-identical result)
  double best_auc = -1.0;         ///< of this stage; -1 before its first evaluation
  double best_logloss = 0.0;
  std::uint64_t best_step = 0;
  Index since_best = 0;           ///< evaluations without improvement
  double loss_sum = 0.0;          ///< training loss since the last evaluation
  Index loss_count = 0;
  Index validation_row = 0;       ///< next validation row fed to a uses_validation stage
  std::uint64_t peak_training_bytes = 0;  ///< MemoryReport::peak_training_bytes so far

  /// The state at the start of stage `index` (global counters are kept).
  void begin_stage(std::size_t index);
};

/// Everything a training checkpoint holds besides the live table, model and optimizer.
struct TrainingState {
  TrainingLoopState loop;
  TrainingSnapshot best;           ///< the current stage's best state
  TrainingSnapshot initial_model;  ///< model values only; empty unless a stage resets the model
};

/// Writes a training checkpoint atomically: to `path` + ".tmp", then renamed over `path`.
/// Throws CheckpointError when it cannot be written (any previous file at `path` is kept).
void save_training_checkpoint(const std::string& path, const TrainerConfig& config,
                              const BatchSource& source, const EmbeddingTable& table,
                              Model& model, const Optimizer& optimizer,
                              const TrainingState& state);

/// Loads a training checkpoint written for this table, model, optimizer, configuration and
/// source, and returns the trainer's state. The whole file's checksum is verified first, then
/// that it matches: table spec, schema, budget and seed; model name and parameter shapes; the
/// TrainerConfig fields that shape the run (batch size, epochs, evaluations per epoch,
/// patience, optimizer, learning rate, evaluation batch size and row limits); split sizes and
/// stage count. A mismatch throws CheckpointError naming the setting and both values; a
/// truncated, damaged or foreign file throws CheckpointError. On any error the table and the
/// model are unchanged (`optimizer` may not be: pass a fresh one).
/// The table's state describes itself (its stage, reshaped parameters, index state), so the
/// freshly built table takes it without begin_stage being called again; the optimizer's state
/// is given to the parameters after the table's state has shaped them.
TrainingState load_training_checkpoint(const std::string& path, const TrainerConfig& config,
                                       const BatchSource& source, EmbeddingTable& table,
                                       Model& model, Optimizer& optimizer);

}  // namespace embcomp
