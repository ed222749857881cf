// The training loop; see include/embcomp/train/trainer.hpp for the schedule.
#include "embcomp/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <utility>

#include "cpu_backend.hpp"
#include "embcomp/data/prefetch.hpp"
#include "embcomp/kernels/activations.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/rowwise_adagrad.hpp"
#include "embcomp/optim/sgd.hpp"
#include "embcomp/train/checkpoint.hpp"
#include "embcomp/train/metrics.hpp"

namespace embcomp {

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, float learning_rate) {
  if (name == "sgd") return std::make_unique<Sgd>(learning_rate);
  if (name == "adagrad") return std::make_unique<Adagrad>(learning_rate);
  if (name == "adam") return std::make_unique<Adam>(learning_rate);
  if (name == "rowwise_adagrad") return std::make_unique<RowwiseAdagrad>(learning_rate);
  throw InvalidArgument(std::string("make_optimizer: unknown optimizer '")
                            .append(name)
                            .append("'; known optimizers are sgd, adagrad, adam, rowwise_adagrad"));
}

void TrainerConfig::validate() const {
  auto fail = [](const std::string& what) { throw InvalidArgument("trainer: " + what); };
  if (batch_size < 1) fail("batch_size must be >= 1, got " + std::to_string(batch_size));
  if (!(epochs > 0.0) || !std::isfinite(epochs)) {
    fail("epochs must be finite and > 0, got " + std::to_string(epochs));
  }
  if (evaluations_per_epoch < 1) {
    fail("evaluations_per_epoch must be >= 1, got " + std::to_string(evaluations_per_epoch));
  }
  if (patience < 0) fail("patience must be >= 0, got " + std::to_string(patience));
  if (eval_batch_size < 1) {
    fail("eval_batch_size must be >= 1, got " + std::to_string(eval_batch_size));
  }
  if (max_validation_rows && *max_validation_rows < 1) fail("max_validation_rows must be >= 1");
  if (max_test_rows && *max_test_rows < 1) fail("max_test_rows must be >= 1");
  if (stop_after_evaluations && *stop_after_evaluations < 1) {
    fail("stop_after_evaluations must be >= 1 when set");
  }
  make_optimizer(optimizer, learning_rate);  // throws for a bad name or learning rate
}

namespace {

const char* part_name(SplitPart part) {
  switch (part) {
    case SplitPart::train: return "train";
    case SplitPart::validation: return "validation";
    case SplitPart::test: return "test";
  }
  return "?";
}

/// Reads a split part in batches and scores each with score(batch, logits) (a backend's, or
/// the host table and model's); buffers are kept between evaluations.
class Evaluator {
 public:
  template <class Score>
  SplitMetrics run(const BatchSource& source, SplitPart part, Model& model, Score score,
                   Index batch_size, std::optional<Index> max_rows) {
    Index rows = source.rows(part);
    if (max_rows) rows = std::min(rows, *max_rows);
    if (rows < 1) {
      throw InvalidArgument(std::string("evaluate: the ").append(part_name(part)).append(
          " part has no rows"));
    }
    const bool was_training = model.training();
    model.set_training(false);
    probabilities_.resize(static_cast<std::size_t>(rows));
    labels_.resize(static_cast<std::size_t>(rows));
    for (Index first = 0; first < rows; first += batch_size) {
      const Index count = std::min(batch_size, rows - first);
      source.read(part, first, count, batch_);
      const Index n = batch_.size;
      logits_.resize(static_cast<std::size_t>(n));
      score(batch_, std::span<float>(logits_));
      for (Index b = 0; b < n; ++b) {
        const auto i = static_cast<std::size_t>(first + b);
        probabilities_[i] = kernels::sigmoid(logits_[static_cast<std::size_t>(b)]);
        labels_[i] = batch_.labels[static_cast<std::size_t>(b)];
      }
    }
    model.set_training(was_training);
    SplitMetrics m;
    m.rows = rows;
    m.auc = exact_auc(probabilities_, labels_);
    m.logloss = logloss(probabilities_, labels_);
    return m;
  }

 private:
  Batch batch_;
  std::vector<float> logits_, probabilities_, labels_;
};

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.10g", value);
  return buffer;
}

std::string json_line(const Evaluation& e, const std::string& stage_name) {
  std::string line = "{\"step\":";
  line += std::to_string(e.step);
  line += ",\"stage\":";
  line += std::to_string(e.stage);
  line += ",\"stage_name\":\"";
  for (char c : stage_name) {  // stage names are identifiers; escape defensively anyway
    if (c == '"' || c == '\\') line += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) line += c;
  }
  line += "\",\"epoch\":";
  line += json_number(e.epoch);
  line += ",\"train_loss\":";
  line += json_number(e.train_loss);
  line += ",\"val_auc\":";
  line += json_number(e.auc);
  line += ",\"val_logloss\":";
  line += json_number(e.logloss);
  line += ",\"samples_per_second\":";
  line += json_number(e.samples_per_second);
  line += ",\"improved\":";
  line += e.improved ? "true" : "false";
  line += "}\n";
  return line;
}

/// The parts of a TrainResult that the loop state and the table and model give.
void finish_result(TrainResult& result, const TrainingLoopState& loop,
                   const EmbeddingTable& table, const Model& model, const Optimizer& optimizer,
                   Index batch_size) {
  result.steps = loop.step;
  result.evaluations = loop.evaluations;
  result.stopped_early = loop.stopped_early;
  result.train_seconds = loop.train_seconds;
  result.train_samples_per_second =
      loop.train_seconds > 0.0
          ? static_cast<double>(loop.step) * static_cast<double>(batch_size) / loop.train_seconds
          : 0.0;
  result.memory = table.memory(&optimizer);
  result.memory.peak_training_bytes =
      std::max<std::uint64_t>(loop.peak_training_bytes, result.memory.training_bytes());
  result.model_parameter_bytes = model.parameter_bytes();
}

/// The result of a run ended by stop_after_evaluations: no test evaluation; the best
/// validation metrics are the current stage's so far.
TrainResult interrupted(TrainResult& result, const TrainingLoopState& loop,
                        const EmbeddingTable& table, const Model& model,
                        const Optimizer& optimizer, Index batch_size) {
  result.completed = false;
  result.best_validation_auc = loop.best_auc;
  result.best_validation_logloss = loop.best_logloss;
  result.best_step = loop.best_step;
  finish_result(result, loop, table, model, optimizer, batch_size);
  return result;
}

}  // namespace

SplitMetrics evaluate(const BatchSource& source, SplitPart part, const EmbeddingTable& table,
                      Model& model, Index batch_size, std::optional<Index> max_rows) {
  if (batch_size < 1) throw InvalidArgument("evaluate: batch_size must be >= 1");
  Evaluator evaluator;
  std::vector<float> embeddings;
  return evaluator.run(
      source, part, model,
      [&](const Batch& b, std::span<float> logits) {
        score_on_host(table, model, b, embeddings, logits);
      },
      batch_size, max_rows);
}

Trainer::Trainer(TrainerConfig config) : config_(std::move(config)) { config_.validate(); }

namespace {

/// One call of Trainer::train: the schedule of trainer.hpp, one member function per phase.
/// Holds the buffers reused by every step (no allocation once they are warm).
class TrainingRun {
 public:
  TrainingRun(const TrainerConfig& config, const BatchSource& source, EmbeddingTable& table,
              Model& model, Optimizer& optimizer, StepBackend& backend, TrainingState& state,
              std::ofstream& log)
      : config_(config),
        source_(source),
        table_(table),
        model_(model),
        optimizer_(optimizer),
        backend_(backend),
        state_(state),
        loop_(state.loop),
        log_(log),
        stages_(table.stages()),
        steps_per_epoch_(source.rows(SplitPart::train) / config.batch_size),
        eval_every_(std::max<Index>(1, (steps_per_epoch_ + config.evaluations_per_epoch - 1) /
                                           config.evaluations_per_epoch)) {
    if (config.prefetch) prefetcher_.emplace(source);
  }

  /// Scores a batch with the host table and model (the stages' own work, the test).
  auto host_scorer() {
    return [this](const Batch& b, std::span<float> logits) {
      score_on_host(table_, model_, b, host_embeddings_, logits);
    };
  }
  /// Scores a batch on the backend (validation during training).
  auto backend_scorer() {
    return [this](const Batch& b, std::span<float> logits) { backend_.score(b, logits); };
  }

  /// Runs the stages from the loop state's on (`continuing`: its stage has already begun, as
  /// after a resume). False when stop_after_evaluations ended the run; otherwise the table and
  /// model hold the last stage's best state and `result` its validation metrics.
  bool run_stages(bool continuing, TrainResult& result) {
    if (loop_.stage < stages_.size()) backend_.load_from_host(stages_[loop_.stage]);
    for (std::size_t s = loop_.stage; s < stages_.size(); ++s, continuing = false) {
      if (!continuing) begin_stage(s);
      if (!run_stage(s)) {
        backend_.store_to_host(/*with_optimizer_state=*/true);
        return false;
      }
      // A stage whose gate (may_become_best) never opened has no best state: it ends as it is.
      if (loop_.best_auc >= 0.0) {
        state_.best.restore(table_, model_);
        backend_.load_from_host(stages_[s]);
      }
      result.best_validation_auc = loop_.best_auc;
      result.best_validation_logloss = loop_.best_logloss;
      result.best_step = loop_.best_step;
    }
    return true;
  }

  /// Finalizes the table (its serving arrays; it then looks up as its freeze() does) and
  /// evaluates test once.
  SplitMetrics test() {
    backend_.store_to_host(/*with_optimizer_state=*/false);
    table_.finalize();
    return evaluator_.run(source_, SplitPart::test, model_, host_scorer(), config_.eval_batch_size,
                          config_.max_test_rows);
  }

 private:
  using Clock = std::chrono::steady_clock;

  /// Enters stage s: resets what it asks for, lets the table begin it (a search stage does its
  /// work here, scoring candidates with validate()), then drops the optimizer state of
  /// parameters the table reshaped.
  void begin_stage(std::size_t s) {
    const Stage& stage = stages_[s];
    backend_.store_to_host(/*with_optimizer_state=*/true);
    loop_.begin_stage(s);
    if (stage.reset_model) state_.initial_model.restore_model(model_);
    if (stage.reset_optimizer) optimizer_.reset();
    StageContext ctx;
    ctx.optimizer = &optimizer_;
    ctx.stage_steps = stage_length(s);
    ctx.validate = [this] {  // the stage's own work runs on the host objects
      return evaluator_
          .run(source_, SplitPart::validation, model_, host_scorer(), config_.eval_batch_size,
               config_.max_validation_rows)
          .auc;
    };
    table_.begin_stage(s, ctx);
    std::vector<const Parameter*> live;
    for (const Parameter* p : std::as_const(table_).parameters()) live.push_back(p);
    for (const Parameter* p : model_.parameters()) live.push_back(p);
    optimizer_.keep_only(live);
    backend_.load_from_host(stage);
    note_peak_memory();
  }

  Index stage_length(std::size_t s) const {
    return stages_[s].length(config_.epochs, steps_per_epoch_);
  }

  /// The largest training footprint so far: the table with its optimizer state, plus the best
  /// state the trainer keeps in memory.
  void note_peak_memory() {
    const std::uint64_t bytes = table_.memory(&optimizer_).training_bytes() +
                                state_.best.table_state.size();
    loop_.peak_training_bytes = std::max(loop_.peak_training_bytes, bytes);
  }

  /// The steps of stage s (from the loop state's position), each followed by an evaluation
  /// every eval_every steps and after the last. False when stop_after_evaluations was reached.
  bool run_stage(std::size_t s) {
    const Stage& stage = stages_[s];
    const Index stage_steps = stage_length(s);
    slice_seconds_ = 0.0;
    slice_samples_ = 0;
    if (stage_steps == 0 && !loop_.stage_finished) {  // a search stage: its one evaluation
      evaluate(s, 0.0, /*last=*/true);
      return !(config_.stop_after_evaluations &&
               loop_.evaluations >= *config_.stop_after_evaluations);
    }
    while (!loop_.stage_finished && loop_.stage_step < stage_steps) {
      const Index i = loop_.stage_step;
      const double epoch = static_cast<double>(i + 1) / static_cast<double>(steps_per_epoch_);
      const auto start = Clock::now();
      const bool evaluation_follows = (i + 1) % eval_every_ == 0 || i + 1 == stage_steps;
      const double loss = train_step(s, i, epoch, stage_steps, evaluation_follows);
      if (stage.uses_validation) feed_validation_batch();
      record_step(loss, std::chrono::duration<double>(Clock::now() - start).count());
      if (config_.on_step) {
        config_.on_step(StepProgress{loop_.step, s, stages_.size(), loop_.stage_step,
                                     stage_steps, running_loss(), slice_rate()});
      }
      const bool last = i + 1 == stage_steps || table_.stage_done();
      if ((i + 1) % eval_every_ != 0 && !last) continue;
      evaluate(s, epoch, last);
      if (config_.stop_after_evaluations &&
          loop_.evaluations >= *config_.stop_after_evaluations) {
        return false;
      }
    }
    return true;
  }

  /// Batch i of a stage: the train part read in order, wrapping around.
  BatchRequest train_batch(Index i) const {
    return {SplitPart::train, (i % steps_per_epoch_) * config_.batch_size, config_.batch_size};
  }

  /// Batch i of the stage into batch_, and the stage's next batch prefetched.
  void read_train_batch(Index i, Index stage_steps) {
    if (!prefetcher_) {
      const BatchRequest r = train_batch(i);
      source_.read(r.part, r.first, r.count, batch_);
      return;
    }
    prefetcher_->take(train_batch(i), batch_);
    if (i + 1 < stage_steps) prefetcher_->prefetch(train_batch(i + 1));
  }

  /// Batch i of the stage: forward, backward, one optimizer step, the table's after_step.
  /// Returns the loss (with the auxiliary loss).
  double train_step(std::size_t s, Index i, double epoch, Index stage_steps,
                    bool evaluation_follows) {
    read_train_batch(i, stage_steps);
    const double loss = backend_.forward_backward(batch_);
    ++loop_.step;
    try {
      backend_.apply_step(stages_[s].train_model);
    } catch (const NonFiniteGradient& e) {
      throw NonFiniteGradient(std::string("trainer: step ")
                                  .append(std::to_string(loop_.step))
                                  .append(" (stage ")
                                  .append(std::to_string(s))
                                  .append(", loss ")
                                  .append(std::to_string(loss))
                                  .append("): ")
                                  .append(e.what()));
    }
    ++loop_.stage_step;
    backend_.after_step(StepContext{loop_.step, s, epoch, &optimizer_, loop_.stage_step,
                                    stage_steps, evaluation_follows});
    return loss;
  }

  /// For stages that use validation: the method sees the dE of one validation batch after
  /// each training step, cycling through the (capped) validation part.
  void feed_validation_batch() {
    Index rows = source_.rows(SplitPart::validation);
    if (config_.max_validation_rows) rows = std::min(rows, *config_.max_validation_rows);
    if (loop_.validation_row >= rows) loop_.validation_row = 0;
    source_.read(SplitPart::validation, loop_.validation_row, config_.batch_size,
                 validation_batch_);
    loop_.validation_row += validation_batch_.size;
    backend_.validation_batch(validation_batch_);
  }

  void record_step(double loss, double seconds) {
    slice_seconds_ += seconds;
    slice_samples_ += batch_.size;
    loop_.train_seconds += seconds;
    loop_.loss_sum += loss;
    ++loop_.loss_count;
  }

  double running_loss() const {
    return loop_.loss_count > 0 ? loop_.loss_sum / static_cast<double>(loop_.loss_count) : 0.0;
  }
  double slice_rate() const {
    return slice_seconds_ > 0.0 ? static_cast<double>(slice_samples_) / slice_seconds_ : 0.0;
  }

  /// Scores validation, keeps a new best state, logs, applies patience and writes the
  /// checkpoint; `last` marks the stage's last step.
  void evaluate(std::size_t s, double epoch, bool last) {
    const SplitMetrics val =
        evaluator_.run(source_, SplitPart::validation, model_, backend_scorer(),
                       config_.eval_batch_size, config_.max_validation_rows);
    Evaluation e;
    e.step = loop_.step;
    e.stage = s;
    e.epoch = epoch;
    e.train_loss = running_loss();
    e.auc = val.auc;
    e.logloss = val.logloss;
    e.samples_per_second = slice_rate();
    // Before the method's gate opens (may_become_best), no state becomes the best and
    // patience does not count.
    const bool gate_open = table_.may_become_best();
    e.improved = gate_open && val.auc > loop_.best_auc;
    ++loop_.evaluations;
    if (e.improved) {
      loop_.best_auc = val.auc;
      loop_.best_logloss = val.logloss;
      loop_.best_step = loop_.step;
      loop_.since_best = 0;
      backend_.store_to_host(/*with_optimizer_state=*/false);
      state_.best.take(table_, model_);
      note_peak_memory();
    } else if (gate_open) {
      ++loop_.since_best;
    }
    if (log_.is_open()) {
      log_ << json_line(e, stages_[s].name) << std::flush;
      if (!log_) throw InvalidArgument("trainer: writing the metrics log failed");
    }
    if (config_.on_evaluation) config_.on_evaluation(e);
    loop_.loss_sum = 0.0;
    loop_.loss_count = 0;
    slice_seconds_ = 0.0;
    slice_samples_ = 0;
    const bool out_of_patience = stages_[s].early_stopping && config_.patience > 0 &&
                                 loop_.since_best >= config_.patience;
    if (out_of_patience && !last) loop_.stopped_early = true;
    loop_.stage_finished = last || out_of_patience;
    if (!config_.checkpoint_path.empty()) {
      backend_.store_to_host(/*with_optimizer_state=*/true);
      save_training_checkpoint(config_.checkpoint_path, config_, source_, table_, model_,
                               optimizer_, state_);
    }
  }

  const TrainerConfig& config_;
  const BatchSource& source_;
  EmbeddingTable& table_;
  Model& model_;
  Optimizer& optimizer_;
  StepBackend& backend_;
  TrainingState& state_;
  TrainingLoopState& loop_;
  std::ofstream& log_;
  const std::vector<Stage> stages_;
  const Index steps_per_epoch_;
  const Index eval_every_;

  Batch batch_, validation_batch_;
  std::optional<BatchPrefetcher> prefetcher_;  ///< with config_.prefetch
  std::vector<float> host_embeddings_;
  Evaluator evaluator_;
  double slice_seconds_ = 0.0;  ///< training time since the last evaluation
  Index slice_samples_ = 0;     ///< training samples since the last evaluation
};

/// The metrics log, opened before anything changes (so a log that cannot be opened leaves a
/// resumed table and model as they were); a resumed run appends.
std::ofstream open_metrics_log(const TrainerConfig& config, bool resumed) {
  std::ofstream log;
  if (config.metrics_log.empty()) return log;
  log.open(config.metrics_log, std::ios::out | (resumed ? std::ios::app : std::ios::trunc));
  if (!log) {
    throw InvalidArgument(std::string("trainer: cannot open the metrics log '")
                              .append(config.metrics_log)
                              .append("' for writing"));
  }
  return log;
}

void require_trainable(const BatchSource& source, Index batch_size) {
  const Index train_rows = source.rows(SplitPart::train);
  if (train_rows / batch_size < 1) {
    throw InvalidArgument("trainer: the train part has " + std::to_string(train_rows) +
                          " rows, fewer than one batch of " + std::to_string(batch_size));
  }
  if (source.rows(SplitPart::validation) < 1) {
    throw InvalidArgument("trainer: the validation part is empty; early stopping and the "
                          "checkpoint choice need it");
  }
}

}  // namespace

TrainResult Trainer::train(const BatchSource& source, EmbeddingTable& table, Model& model) {
  require_trainable(source, config_.batch_size);
  const bool resumed = !config_.resume_from.empty();
  std::ofstream log = open_metrics_log(config_, resumed);

  // Everything the loop carries between steps; a checkpoint holds it. On resume it is loaded
  // (with the table, model and optimizer) before anything else changes.
  std::unique_ptr<Optimizer> fresh_optimizer =
      make_optimizer(config_.optimizer, config_.learning_rate);
  TrainingState state;
  if (resumed) {
    state = load_training_checkpoint(config_.resume_from, config_, source, table, model,
                                     *fresh_optimizer);
  } else if (std::ranges::any_of(table.stages(), [](const Stage& s) { return s.reset_model; })) {
    state.initial_model.take_model(model);  // what a stage with reset_model starts from
  }
  optimizer_ = std::move(fresh_optimizer);

  model.set_training(true);
  TrainResult result;
  result.resumed_from_step = resumed ? state.loop.step : 0;
  const std::unique_ptr<StepBackend> backend = config_.backend
                                                   ? config_.backend({table, model, *optimizer_})
                                                   : cpu_backend({table, model, *optimizer_});
  result.backend = backend->name();
  TrainingRun run(config_, source, table, model, *optimizer_, *backend, state, log);
  if (!run.run_stages(/*continuing=*/resumed, result)) {
    return interrupted(result, state.loop, table, model, *optimizer_, config_.batch_size);
  }
  const SplitMetrics test = run.test();
  result.test_auc = test.auc;
  result.test_logloss = test.logloss;
  finish_result(result, state.loop, table, model, *optimizer_, config_.batch_size);
  return result;
}

}  // namespace embcomp
