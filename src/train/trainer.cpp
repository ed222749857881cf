// The training loop; see include/embcomp/train/trainer.hpp for the schedule.
#include "embcomp/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "embcomp/core/serialize.hpp"
#include "embcomp/kernels/activations.hpp"
#include "embcomp/nn/loss.hpp"
#include "embcomp/optim/adagrad.hpp"
#include "embcomp/optim/adam.hpp"
#include "embcomp/optim/sgd.hpp"
#include "embcomp/train/metrics.hpp"

namespace embcomp {

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, float learning_rate) {
  if (name == "sgd") return std::make_unique<Sgd>(learning_rate);
  if (name == "adagrad") return std::make_unique<Adagrad>(learning_rate);
  if (name == "adam") return std::make_unique<Adam>(learning_rate);
  throw InvalidArgument(std::string("make_optimizer: unknown optimizer '")
                            .append(name)
                            .append("'; known optimizers are sgd, adagrad, adam"));
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

/// Reads a split part in batches and scores it; buffers are kept between evaluations.
class Evaluator {
 public:
  SplitMetrics run(const BatchSource& source, SplitPart part, const EmbeddingTable& table,
                   Model& model, Index batch_size, std::optional<Index> max_rows) {
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
    const Index d = table.dim();
    for (Index first = 0; first < rows; first += batch_size) {
      const Index count = std::min(batch_size, rows - first);
      source.read(part, first, count, batch_);
      const Index n = batch_.size;
      embeddings_.resize(static_cast<std::size_t>(n * batch_.num_fields * d));
      logits_.resize(static_cast<std::size_t>(n));
      table.lookup(batch_.id_batch(), {embeddings_.data(), n * batch_.num_fields, d});
      model.forward(batch_, {embeddings_.data(), n * batch_.num_fields, d}, logits_);
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
  std::vector<float> embeddings_, logits_, probabilities_, labels_;
};

/// The best state of a stage, held in memory.
struct Snapshot {
  std::string table_state;
  std::vector<std::vector<float>> model_values;

  void take(const EmbeddingTable& table, Model& model) {
    std::ostringstream out(std::ios::out | std::ios::binary);
    Writer w(out);
    table.save_state(w);
    w.finish();
    table_state = std::move(out).str();
    const auto params = model.parameters();
    model_values.resize(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      model_values[i].assign(params[i]->data(), params[i]->data() + params[i]->size());
    }
  }
  void restore(EmbeddingTable& table, Model& model) const {
    std::istringstream in(table_state, std::ios::in | std::ios::binary);
    Reader r(in);
    table.load_state(r);
    r.finish();
    restore_model(model);
  }
  void restore_model(Model& model) const {
    const auto params = model.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      std::copy(model_values[i].begin(), model_values[i].end(), params[i]->data());
    }
  }
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

}  // namespace

SplitMetrics evaluate(const BatchSource& source, SplitPart part, const EmbeddingTable& table,
                      Model& model, Index batch_size, std::optional<Index> max_rows) {
  if (batch_size < 1) throw InvalidArgument("evaluate: batch_size must be >= 1");
  Evaluator evaluator;
  return evaluator.run(source, part, table, model, batch_size, max_rows);
}

Trainer::Trainer(TrainerConfig config) : config_(std::move(config)) { config_.validate(); }

TrainResult Trainer::train(const BatchSource& source, EmbeddingTable& table, Model& model) {
  using Clock = std::chrono::steady_clock;
  const Index batch_size = config_.batch_size;
  const Index train_rows = source.rows(SplitPart::train);
  const Index steps_per_epoch = train_rows / batch_size;
  if (steps_per_epoch < 1) {
    throw InvalidArgument("trainer: the train part has " + std::to_string(train_rows) +
                          " rows, fewer than one batch of " + std::to_string(batch_size));
  }
  if (source.rows(SplitPart::validation) < 1) {
    throw InvalidArgument("trainer: the validation part is empty; early stopping and the "
                          "checkpoint choice need it");
  }
  const Index eval_every = std::max<Index>(
      1, (steps_per_epoch + config_.evaluations_per_epoch - 1) / config_.evaluations_per_epoch);

  std::ofstream log;
  if (!config_.metrics_log.empty()) {
    log.open(config_.metrics_log, std::ios::out | std::ios::trunc);
    if (!log) {
      throw InvalidArgument(std::string("trainer: cannot open the metrics log '")
                                .append(config_.metrics_log)
                                .append("' for writing"));
    }
  }

  optimizer_ = make_optimizer(config_.optimizer, config_.learning_rate);
  Optimizer& optimizer = *optimizer_;
  model.set_training(true);

  Snapshot initial_model;  // what a stage with reset_model re-initialises the model to
  if (std::ranges::any_of(table.stages(), [](const Stage& s) { return s.reset_model; })) {
    initial_model.take(table, model);
  }

  const Index d = table.dim();
  Batch batch, validation_batch;
  std::vector<float> embeddings, dE, logits, dlogits;
  Gradients table_grads, model_grads, scratch_model_grads;
  Evaluator evaluator;
  Snapshot best;

  TrainResult result;
  std::uint64_t step = 0;
  double train_seconds = 0.0;
  const std::vector<Stage> stages = table.stages();

  // One forward/backward pass of `b`: model gradients into `mg`, dE, and with `tg` the
  // table's gradients; returns the batch's loss.
  auto forward_backward = [&](const Batch& b, Gradients* tg, Gradients& mg) {
    const Index n = b.size;
    const Index positions = n * b.num_fields;
    embeddings.resize(static_cast<std::size_t>(positions * d));
    dE.resize(embeddings.size());
    logits.resize(static_cast<std::size_t>(n));
    dlogits.resize(static_cast<std::size_t>(n));
    table.lookup(b.id_batch(), {embeddings.data(), positions, d});
    model.forward(b, {embeddings.data(), positions, d}, logits);
    const double loss = nn::bce_with_logits(logits, b.labels, dlogits);
    mg.clear();
    model.backward(dlogits, mg, {dE.data(), positions, d});
    if (tg != nullptr) table.backward(b.id_batch(), {dE.data(), positions, d}, *tg);
    return loss;
  };

  for (std::size_t s = 0; s < stages.size(); ++s) {
    const Stage& stage = stages[s];
    if (stage.reset_model) initial_model.restore_model(model);
    if (stage.reset_optimizer) optimizer.reset();
    table.begin_stage(s);

    const auto stage_steps = std::max<Index>(
        1, static_cast<Index>(std::llround(config_.epochs * stage.epochs *
                                           static_cast<double>(steps_per_epoch))));
    double best_auc = -1.0;
    double best_logloss = 0.0;
    std::uint64_t best_step = 0;
    Index since_best = 0;
    double loss_sum = 0.0;
    Index loss_count = 0;
    double slice_seconds = 0.0;
    Index slice_samples = 0;
    Index validation_row = 0;

    for (Index i = 0; i < stage_steps; ++i) {
      const auto start = Clock::now();
      source.read(SplitPart::train, (i % steps_per_epoch) * batch_size, batch_size, batch);
      double loss = forward_backward(batch, &table_grads, model_grads);
      loss += table.auxiliary_loss();
      ++step;
      try {
        optimizer.step({&table_grads, &model_grads});
      } catch (const NonFiniteGradient& e) {
        throw NonFiniteGradient(std::string("trainer: step ")
                                    .append(std::to_string(step))
                                    .append(" (stage ")
                                    .append(std::to_string(s))
                                    .append(", loss ")
                                    .append(std::to_string(loss))
                                    .append("): ")
                                    .append(e.what()));
      }
      const double epoch = static_cast<double>(i + 1) / static_cast<double>(steps_per_epoch);
      table.after_step(StepContext{step, s, epoch});
      if (stage.uses_validation) {
        // The method sees a validation batch (its dE) after each training step, cycling
        // through the (capped) validation part.
        Index val_rows = source.rows(SplitPart::validation);
        if (config_.max_validation_rows) val_rows = std::min(val_rows, *config_.max_validation_rows);
        if (validation_row >= val_rows) validation_row = 0;
        source.read(SplitPart::validation, validation_row, batch_size, validation_batch);
        validation_row += validation_batch.size;
        forward_backward(validation_batch, nullptr, scratch_model_grads);
        table.on_validation_batch(validation_batch.id_batch(),
                                  {dE.data(), validation_batch.size * validation_batch.num_fields, d});
      }
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      slice_seconds += seconds;
      train_seconds += seconds;
      slice_samples += batch.size;
      loss_sum += loss;
      ++loss_count;

      const bool last = i + 1 == stage_steps;
      if ((i + 1) % eval_every != 0 && !last) continue;

      const SplitMetrics val = evaluator.run(source, SplitPart::validation, table, model,
                                             config_.eval_batch_size, config_.max_validation_rows);
      Evaluation e;
      e.step = step;
      e.stage = s;
      e.epoch = epoch;
      e.train_loss = loss_sum / static_cast<double>(loss_count);
      e.auc = val.auc;
      e.logloss = val.logloss;
      e.samples_per_second =
          slice_seconds > 0.0 ? static_cast<double>(slice_samples) / slice_seconds : 0.0;
      e.improved = val.auc > best_auc;
      ++result.evaluations;
      if (e.improved) {
        best_auc = val.auc;
        best_logloss = val.logloss;
        best_step = step;
        since_best = 0;
        best.take(table, model);
      } else {
        ++since_best;
      }
      if (log.is_open()) {
        log << json_line(e, stage.name) << std::flush;
        if (!log) throw InvalidArgument("trainer: writing the metrics log failed");
      }
      if (config_.on_evaluation) config_.on_evaluation(e);
      loss_sum = 0.0;
      loss_count = 0;
      slice_seconds = 0.0;
      slice_samples = 0;
      if (config_.patience > 0 && since_best >= config_.patience && !last) {
        result.stopped_early = true;
        break;
      }
    }
    best.restore(table, model);
    result.best_validation_auc = best_auc;
    result.best_validation_logloss = best_logloss;
    result.best_step = best_step;
  }

  const SplitMetrics test = evaluator.run(source, SplitPart::test, table, model,
                                          config_.eval_batch_size, config_.max_test_rows);
  result.test_auc = test.auc;
  result.test_logloss = test.logloss;
  result.steps = step;
  result.train_seconds = train_seconds;
  result.train_samples_per_second =
      train_seconds > 0.0
          ? static_cast<double>(step) * static_cast<double>(batch_size) / train_seconds
          : 0.0;
  result.memory = table.memory(&optimizer);
  result.model_parameter_bytes = model.parameter_bytes();
  return result;
}

}  // namespace embcomp
