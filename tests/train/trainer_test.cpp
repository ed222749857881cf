// Trainer: learning on synthetic data, validation-only early stopping and checkpoint choice,
// one test evaluation, stages, the metrics log, determinism and bad input.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

// table.hpp first: methods/full.hpp (through core/row_table.hpp) expects EmbeddingTable.
#include "embcomp/table.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/train/trainer.hpp"
#include "data/forwarding_source.hpp"
#include "stats.hpp"

using namespace embcomp;
using test::auc_standard_error;

namespace {

SyntheticConfig small_data() {
  SyntheticConfig config;
  config.cardinalities = {2000, 400, 150, 60, 25, 12, 5, 3};
  config.num_dense = 4;
  config.interaction_pairs = 4;
  config.train_rows = 40'000;
  config.validation_rows = 6'000;
  config.test_rows = 10'000;
  config.seed = 11;
  return config;
}

ModelArgs small_model(const BatchSource& source, Index dim) {
  ModelArgs args;
  args.num_fields = static_cast<Index>(source.cardinalities().size());
  args.dim = dim;
  args.num_dense = source.num_dense();
  args.seed = 3;
  args.bottom_hidden = {16};
  args.top_hidden = {32, 16};
  return args;
}

TrainerConfig fast_config() {
  TrainerConfig config;
  config.batch_size = 128;
  config.epochs = 1.0;
  config.evaluations_per_epoch = 4;
  config.patience = 0;
  config.optimizer = "adam";
  config.learning_rate = 0.005f;
  return config;
}

struct Run {
  std::unique_ptr<EmbeddingTable> table;
  std::unique_ptr<Model> model;
  TrainResult result;
};

Run train_once(const BatchSource& source, const TrainerConfig& config,
               const std::string& method = "hash", double ratio = 4.0, Index dim = 8) {
  Run run;
  run.table = make_table(method, TableArgs{source.schema(dim), Budget{ratio}, 7});
  run.model = make_model("dlrm", small_model(source, dim));
  Trainer trainer(config);
  run.result = trainer.train(source, *run.table, *run.model);
  return run;
}

/// Forwards to another source, counting rows read per part; can flip validation labels, map
/// validation onto train rows, or poison one training row's dense features with NaN.
class WrappedSource : public test::ForwardingSource {
 public:
  using ForwardingSource::ForwardingSource;
  void read(SplitPart part, Index first, Index count, Batch& out) const override {
    const bool from_train = part == SplitPart::validation && validation_is_flipped_train;
    inner().read(from_train ? SplitPart::train : part, first, count, out);
    rows_read[static_cast<std::size_t>(part)] += out.size;
    if (from_train) {
      for (float& label : out.labels) label = 1.0f - label;
    }
    if (part == SplitPart::train && nan_row >= first && nan_row < first + out.size) {
      out.dense[static_cast<std::size_t>((nan_row - first) * out.num_dense)] = poison;
    }
  }

  bool validation_is_flipped_train = false;
  float poison = std::numeric_limits<float>::quiet_NaN();  ///< the value written at nan_row
  Index nan_row = -1;
  mutable std::array<Index, 3> rows_read{};
};

/// A full table that declares two stages and records what the trainer calls.
class StagedTable : public FullTable {
 public:
  explicit StagedTable(const TableArgs& args) : FullTable(args, Options("full", {})) {}
  std::vector<Stage> stages() const override {
    Stage search;
    search.name = "search";
    search.uses_validation = true;
    search.epochs = 0.5;
    Stage retrain;
    retrain.name = "retrain";
    retrain.reset_model = true;
    retrain.reset_optimizer = true;
    return {search, retrain};
  }
  void on_begin_stage(std::size_t index, const StageContext& ctx) override {
    begun.push_back(index);
    stage_lengths.push_back(ctx.stage_steps);
    CHECK(ctx.optimizer != nullptr);
    CHECK(ctx.validate);
  }
  void on_validation_batch(const IdBatch& ids, ConstMatrix dE) override {
    ++validation_batches;
    CHECK(dE.rows == ids.size());
  }
  void after_step(const StepContext& ctx) override { contexts.push_back(ctx); }

  std::vector<std::size_t> begun;
  std::vector<Index> stage_lengths;
  Index validation_batches = 0;
  std::vector<StepContext> contexts;
};

/// The bytes of run's table saved as a checkpoint.
std::string saved_table(const Run& run) {
  std::ostringstream out;
  run.table->save(out);
  return std::move(out).str();
}

double json_field(const std::string& line, const std::string& key) {
  const std::string pattern = std::string("\"").append(key).append("\":");
  const auto at = line.find(pattern);
  REQUIRE(at != std::string::npos);
  return std::strtod(line.c_str() + at + pattern.size(), nullptr);
}

}  // namespace

TEST_CASE("trainer: DLRM with hash at 4x learns close to the Bayes AUC", "[train][trainer]") {
  const SyntheticCtr data(small_data());
  const BayesMetrics bayes = data.bayes_metrics(SplitPart::test);
  TrainerConfig config = fast_config();
  config.epochs = 2.0;
  config.evaluations_per_epoch = 2;
  Run run = train_once(data, config);
  const TrainResult& r = run.result;
  // The claims, with the test split's sampling error (Hanley-McNeil, 10k rows: about 0.006)
  // allowed 3 times: the model captures at least 60% of the Bayes-optimal scorer's lift over a
  // random one (AUC - 0.5; measured 67%: 0.672 against 0.756, so 40k rows leave a gap), and it
  // cannot beat the true probabilities on the same rows by more than sampling noise.
  const double se = auc_standard_error(bayes.auc, static_cast<double>(bayes.positives),
                                       static_cast<double>(bayes.rows - bayes.positives));
  INFO("test AUC " << r.test_auc << ", Bayes AUC " << bayes.auc << ", standard error " << se);
  CHECK(r.test_auc - 0.5 >= 0.6 * (bayes.auc - 0.5) - 3.0 * se);
  CHECK(r.test_auc <= bayes.auc + 3.0 * se);
  CHECK(r.test_logloss < 0.6);
  CHECK(r.best_validation_auc > 0.64);
  CHECK(r.steps == 2 * (40'000 / 128));
  CHECK(r.evaluations == 4);
  CHECK_FALSE(r.stopped_early);
  CHECK(r.train_samples_per_second > 0.0);
  CHECK(r.memory.ratio() >= 4.0);
  CHECK(r.memory.optimizer_bytes == 2 * r.memory.parameter_bytes);  // Adam: m and v
  CHECK(r.model_parameter_bytes == run.model->parameter_bytes());
  CHECK(r.model_parameter_bytes > 0);
}

TEST_CASE("trainer: early stopping and the best state use validation only",
          "[train][trainer]") {
  // Validation is the training data with flipped labels: the better the model fits, the worse
  // it scores, so the first evaluation is the best and patience ends the run.
  const SyntheticCtr data(small_data());
  WrappedSource source(data);
  source.validation_is_flipped_train = true;
  TrainerConfig config = fast_config();
  config.evaluations_per_epoch = 20;
  config.patience = 2;
  config.max_validation_rows = 4'000;
  std::vector<Evaluation> seen;
  config.on_evaluation = [&](const Evaluation& e) { seen.push_back(e); };
  Run run = train_once(source, config);
  const TrainResult& r = run.result;

  REQUIRE(r.stopped_early);
  CHECK(r.evaluations < 20);
  REQUIRE(seen.size() == r.evaluations);
  double best = -1.0;
  std::uint64_t best_step = 0;
  for (const Evaluation& e : seen) {
    if (e.auc > best) best = e.auc, best_step = e.step;
  }
  CHECK(r.best_validation_auc == best);
  CHECK(r.best_step == best_step);
  // The last `patience` evaluations did not improve, and the run ended at the last one.
  CHECK_FALSE(seen[seen.size() - 1].improved);
  CHECK_FALSE(seen[seen.size() - 2].improved);
  CHECK(r.steps == seen.back().step);
  CHECK(r.best_step < r.steps);

  // The table and model were restored to the best state: a fresh evaluation reproduces it.
  const SplitMetrics again = evaluate(source, SplitPart::validation, *run.table, *run.model,
                                      config.eval_batch_size, config.max_validation_rows);
  CHECK(again.auc == r.best_validation_auc);
  CHECK(again.logloss == r.best_validation_logloss);
  CHECK(again.auc != seen.back().auc);
}

TEST_CASE("trainer: the test part is read exactly once, at the end", "[train][trainer]") {
  const SyntheticCtr data(small_data());
  WrappedSource source(data);
  TrainerConfig config = fast_config();
  config.epochs = 0.25;
  config.max_validation_rows = 3'000;
  bool test_read_during_training = false;
  config.on_evaluation = [&](const Evaluation&) {
    test_read_during_training |= source.rows_read[2] != 0;
  };
  Run run = train_once(source, config);
  CHECK_FALSE(test_read_during_training);
  CHECK(source.rows_read[2] == data.rows(SplitPart::test));
  CHECK(source.rows_read[1] == 3'000 * static_cast<Index>(run.result.evaluations));
  CHECK(source.rows_read[0] == 128 * static_cast<Index>(run.result.steps));

  SECTION("a cap on test rows reads only those") {
    WrappedSource capped(data);
    config.max_test_rows = 1'000;
    config.on_evaluation = nullptr;
    Run again = train_once(capped, config);
    CHECK(capped.rows_read[2] == 1'000);
  }
}

TEST_CASE("trainer: the metrics log has one JSON line per evaluation", "[train][trainer]") {
  const SyntheticCtr data(small_data());
  const auto path = (std::filesystem::temp_directory_path() / "embcomp_trainer_log_test.jsonl");
  TrainerConfig config = fast_config();
  config.epochs = 0.5;
  config.metrics_log = path.string();
  std::vector<Evaluation> seen;
  config.on_evaluation = [&](const Evaluation& e) { seen.push_back(e); };
  Run run = train_once(data, config);

  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == run.result.evaluations);
  REQUIRE(lines.size() == seen.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    CHECK(line.front() == '{');
    CHECK(line.back() == '}');
    CHECK(line.find("nan") == std::string::npos);
    CHECK(json_field(line, "step") == static_cast<double>(seen[i].step));
    CHECK(json_field(line, "epoch") == Approx(seen[i].epoch));
    CHECK(json_field(line, "val_auc") == Approx(seen[i].auc).epsilon(1e-9));
    CHECK(json_field(line, "val_logloss") == Approx(seen[i].logloss).epsilon(1e-9));
    CHECK(json_field(line, "train_loss") == Approx(seen[i].train_loss).epsilon(1e-9));
    CHECK(json_field(line, "samples_per_second") > 0.0);
  }
  std::filesystem::remove(path);

  SECTION("an unwritable log path is a clear error") {
    config.metrics_log = "/nonexistent-dir/log.jsonl";
    CHECK_THROWS_WITH(train_once(data, config), Catch::Contains("cannot open the metrics log"));
  }
}

TEST_CASE("trainer: runs with the same seed are identical", "[train][trainer]") {
  const SyntheticCtr data(small_data());
  TrainerConfig config = fast_config();
  config.epochs = 0.3;
  config.max_validation_rows = 2'000;
  Run a = train_once(data, config);
  Run b = train_once(data, config);
  CHECK(a.result.best_validation_auc == b.result.best_validation_auc);
  CHECK(a.result.test_auc == b.result.test_auc);
  CHECK(a.result.test_logloss == b.result.test_logloss);
  CHECK(saved_table(a) == saved_table(b));
}

TEST_CASE("trainer: batches prefetched on a thread train exactly as batches read in place",
          "[train][trainer]") {
  const SyntheticCtr data(small_data());
  TrainerConfig config = fast_config();
  config.epochs = 0.3;
  config.max_validation_rows = 2'000;
  config.patience = 1;  // an early stop drops a prefetched batch
  WrappedSource prefetched(data), in_place(data);
  Run a = train_once(prefetched, config);
  config.prefetch = false;
  Run b = train_once(in_place, config);
  CHECK(a.result.steps == b.result.steps);
  CHECK(a.result.test_auc == b.result.test_auc);
  CHECK(saved_table(a) == saved_table(b));
  CHECK(in_place.rows_read[0] == 128 * static_cast<Index>(b.result.steps));
  // At most one batch per stage read ahead and never used.
  CHECK(prefetched.rows_read[0] >= in_place.rows_read[0]);
  CHECK(prefetched.rows_read[0] <= in_place.rows_read[0] + 128);
}

TEST_CASE("trainer: declared stages run in order", "[train][trainer]") {
  const SyntheticCtr data(small_data());
  StagedTable table(TableArgs{data.schema(8), Budget{1.0}, 7});
  auto model = make_model("dlrm", small_model(data, 8));
  TrainerConfig config = fast_config();
  config.epochs = 0.2;
  config.max_validation_rows = 2'000;
  std::vector<std::size_t> evaluated_stages;
  config.on_evaluation = [&](const Evaluation& e) { evaluated_stages.push_back(e.stage); };
  Trainer trainer(config);
  const TrainResult r = trainer.train(data, table, *model);

  const Index per_epoch = 40'000 / 128;
  const auto search_steps = static_cast<Index>(std::llround(0.2 * 0.5 * per_epoch));
  const auto retrain_steps = static_cast<Index>(std::llround(0.2 * per_epoch));
  CHECK(table.begun == std::vector<std::size_t>{0, 1});
  CHECK(table.validation_batches == search_steps);
  REQUIRE(table.contexts.size() == static_cast<std::size_t>(search_steps + retrain_steps));
  for (std::size_t i = 0; i < table.contexts.size(); ++i) {
    CHECK(table.contexts[i].step == i + 1);
    CHECK(table.contexts[i].stage == (static_cast<Index>(i) < search_steps ? 0u : 1u));
  }
  CHECK(r.steps == static_cast<std::uint64_t>(search_steps + retrain_steps));
  REQUIRE_FALSE(evaluated_stages.empty());
  CHECK(evaluated_stages.front() == 0);
  CHECK(evaluated_stages.back() == 1);
  // The optimizer was reset before the retrain stage: its step count is that stage's only.
  REQUIRE(trainer.optimizer() != nullptr);
  CHECK(trainer.optimizer()->steps() == static_cast<std::uint64_t>(retrain_steps));
}

TEST_CASE("trainer: a NaN gradient stops training naming the step", "[train][trainer]") {
  const SyntheticCtr data(small_data());
  WrappedSource source(data);
  source.nan_row = 5 * 128 + 7;  // in the 6th batch
  CHECK_THROWS_AS(train_once(source, fast_config()), NonFiniteGradient);
  CHECK_THROWS_WITH(train_once(source, fast_config()), Catch::Contains("step 6 "));
  source.poison = std::numeric_limits<float>::infinity();  // Inf in a dense feature: the same
  CHECK_THROWS_WITH(train_once(source, fast_config()), Catch::Contains("step 6 "));
}

TEST_CASE("trainer: bad configuration is rejected", "[train][trainer]") {
  TrainerConfig config;
  config.optimizer = "rmsprop";
  CHECK_THROWS_WITH(Trainer(config), Catch::Contains("unknown optimizer 'rmsprop'"));
  config = TrainerConfig{};
  config.epochs = 0.0;
  CHECK_THROWS_AS(Trainer(config), InvalidArgument);
  config = TrainerConfig{};
  config.batch_size = 0;
  CHECK_THROWS_AS(Trainer(config), InvalidArgument);
  config = TrainerConfig{};
  config.learning_rate = -1.0f;
  CHECK_THROWS_AS(Trainer(config), InvalidArgument);

  SyntheticConfig tiny = small_data();
  tiny.train_rows = 100;
  const SyntheticCtr data(tiny);
  config = TrainerConfig{};
  CHECK_THROWS_WITH(train_once(data, config), Catch::Contains("fewer than one batch"));
}
