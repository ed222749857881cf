// Training checkpoints: a run interrupted at an evaluation and resumed ends bit-identical to an
// uninterrupted one (stateful optimizers, several stages, chains of resumes); damaged, foreign
// and mismatched checkpoints are refused with a clear error and change nothing; inspection.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

// table.hpp first: methods/full.hpp (through core/row_table.hpp) expects EmbeddingTable.
#include "embcomp/table.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/methods/full.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/train/checkpoint.hpp"
#include "embcomp/train/trainer.hpp"

using namespace embcomp;

namespace {

SyntheticConfig tiny_data() {
  SyntheticConfig config;
  config.cardinalities = {5000, 120, 40, 12, 5, 3};  // cafe compresses the first only
  config.num_dense = 2;
  config.interaction_pairs = 2;
  config.train_rows = 6'000;
  config.validation_rows = 1'500;
  config.test_rows = 2'000;
  config.seed = 5;
  return config;
}

/// 46 steps per epoch, an evaluation every 12 steps and at the end: 4 per 1-epoch stage.
TrainerConfig base_config(const std::string& optimizer) {
  TrainerConfig config;
  config.batch_size = 128;
  config.epochs = 1.0;
  config.evaluations_per_epoch = 4;
  config.patience = 0;
  config.optimizer = optimizer;
  config.learning_rate = optimizer == "sgd" ? 0.05f : 0.01f;
  return config;
}

/// A full table with two stages: a search stage fed validation batches, then a retrain stage
/// that re-initialises the model and drops the optimizer's state.
class TwoStageTable : public FullTable {
 public:
  explicit TwoStageTable(const TableArgs& args) : FullTable(args, Options("full", {})) {}
  std::vector<Stage> stages() const override {
    Stage search;
    search.name = "search";
    search.uses_validation = true;
    search.epochs = 0.5;  // 23 steps: evaluations at 12 and 23
    Stage retrain;
    retrain.name = "retrain";
    retrain.reset_model = true;
    retrain.reset_optimizer = true;  // 46 steps: evaluations at 12, 24, 36, 46
    return {search, retrain};
  }
};

struct Setup {
  std::unique_ptr<EmbeddingTable> table;
  std::unique_ptr<Model> model;
};

/// A freshly built table ("staged" is TwoStageTable) and DLRM, the same on every call.
Setup build(const BatchSource& source, const std::string& method, std::uint64_t seed = 7) {
  const TableArgs args{source.schema(8), Budget{method == "hash" || method.starts_with("cafe") ? 4.0 : 1.0}, seed};
  Setup s;
  s.table = method == "staged" ? std::make_unique<TwoStageTable>(args) : make_table(method, args);
  ModelArgs model;
  model.num_fields = static_cast<Index>(source.cardinalities().size());
  model.dim = 8;
  model.num_dense = source.num_dense();
  model.seed = 3;
  model.bottom_hidden = {8};
  model.top_hidden = {16};
  s.model = make_model("dlrm", model);
  return s;
}

/// The table's whole state as bytes and the model's values: equal means bit-identical.
struct State {
  std::string table;
  std::vector<std::vector<float>> model;
  bool operator==(const State&) const = default;
};

State state_of(const EmbeddingTable& table, Model& model) {
  TrainingSnapshot snapshot;
  snapshot.take(table, model);
  return {snapshot.table_state, snapshot.model_values};
}

/// What an evaluation reports, without the wall-clock throughput.
struct Seen {
  std::uint64_t step;
  std::size_t stage;
  double train_loss, auc, logloss;
  bool improved;
  bool operator==(const Seen&) const = default;
};

struct Outcome {
  TrainResult result;
  State state;
  std::vector<Seen> seen;
};

/// Trains a fresh setup with `config`, recording every evaluation into `seen`.
Outcome run(const BatchSource& source, const std::string& method, TrainerConfig config,
            std::vector<Seen>& seen) {
  Setup s = build(source, method);
  config.on_evaluation = [&](const Evaluation& e) {
    seen.push_back({e.step, e.stage, e.train_loss, e.auc, e.logloss, e.improved});
  };
  Trainer trainer(config);
  Outcome out;
  out.result = trainer.train(source, *s.table, *s.model);
  out.state = state_of(*s.table, *s.model);
  return out;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("embcomp_resume_" + name)).string();
}

/// Runs `method` uninterrupted, then interrupted after each of `stops` (total evaluations)
/// and resumed each time from the checkpoint, and requires both to end bit-identical.
void require_resume_identity(const std::string& method, const TrainerConfig& config,
                             const std::vector<std::size_t>& stops) {
  const SyntheticCtr data(tiny_data());
  std::vector<Seen> reference_seen;
  const Outcome reference = run(data, method, config, reference_seen);
  REQUIRE(reference.result.completed);
  INFO("the uninterrupted run: " << reference.result.evaluations << " evaluations, "
                                 << (reference.result.stopped_early ? "" : "not ")
                                 << "stopped early");
  REQUIRE(stops.back() <= reference.result.evaluations);

  const std::string path = temp_path(method + ".ckpt");
  std::filesystem::remove(path);
  std::vector<Seen> seen;
  for (std::size_t i = 0; i <= stops.size(); ++i) {
    TrainerConfig part = config;
    part.checkpoint_path = path;
    if (i > 0) part.resume_from = path;
    if (i < stops.size()) part.stop_after_evaluations = stops[i];
    const Outcome out = run(data, method, part, seen);
    INFO(method << ", part " << i);
    if (i < stops.size()) {
      REQUIRE_FALSE(out.result.completed);
      REQUIRE(out.result.evaluations == stops[i]);
      continue;
    }
    REQUIRE(out.result.completed);
    CHECK(out.result.resumed_from_step > 0);
    CHECK(out.result.test_auc == reference.result.test_auc);
    CHECK(out.result.test_logloss == reference.result.test_logloss);
    CHECK(out.result.best_validation_auc == reference.result.best_validation_auc);
    CHECK(out.result.best_validation_logloss == reference.result.best_validation_logloss);
    CHECK(out.result.best_step == reference.result.best_step);
    CHECK(out.result.steps == reference.result.steps);
    CHECK(out.result.evaluations == reference.result.evaluations);
    CHECK(out.result.stopped_early == reference.result.stopped_early);
    CHECK(out.result.memory.training_bytes() == reference.result.memory.training_bytes());
    CHECK(out.result.memory.peak_training_bytes == reference.result.memory.peak_training_bytes);
    CHECK(out.state.table == reference.state.table);
    CHECK(out.state.model == reference.state.model);
    CHECK(seen == reference_seen);  // every evaluation, with the running training loss
  }
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove(path);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Writes a checkpoint of `method` after its second evaluation to `path`.
void write_checkpoint(const BatchSource& source, const std::string& method,
                      const TrainerConfig& config, const std::string& path) {
  TrainerConfig part = config;
  part.checkpoint_path = path;
  part.stop_after_evaluations = 2;
  std::vector<Seen> seen;
  REQUIRE_FALSE(run(source, method, part, seen).result.completed);
  REQUIRE(std::filesystem::exists(path));
}

}  // namespace

TEST_CASE("resume identity: hash with Adam, interrupted twice", "[train][resume]") {
  TrainerConfig config = base_config("adam");
  config.evaluations_per_epoch = 8;
  config.patience = 3;
  require_resume_identity("hash", config, {2, 4});  // 4: the patience stop
}

TEST_CASE("resume identity: full with Adagrad", "[train][resume]") {
  require_resume_identity("full", base_config("adagrad"), {3});
}

TEST_CASE("resume identity: cafe (promotions move row-wise state) with row-wise Adagrad",
          "[train][resume]") {
  require_resume_identity("cafe", base_config("rowwise_adagrad"), {3});
}

TEST_CASE("resume identity: int8 with stochastic rounding and SGD", "[train][resume]") {
  require_resume_identity("int8", base_config("sgd"), {1});
}

TEST_CASE("resume identity: cafe (its sketch is table state) with Adam",
          "[train][resume]") {
  require_resume_identity("cafe", base_config("adam"), {2});
}

TEST_CASE("resume identity: deeplight (warm-up, gated pruning stage, finalize) with Adam",
          "[train][resume]") {
  // Interrupted in the warm-up and in the pruning stage: the pruned table, the prune rate that
  // gates the best state and the optimizer's state resume; finalize runs once, at the end.
  TrainerConfig config = base_config("adam");
  config.patience = 0;
  SECTION("in the warm-up") { require_resume_identity("deeplight:every=3,warmup=0.5", config, {1}); }
  SECTION("in the pruning stage") {
    require_resume_identity("deeplight:every=3,warmup=0.5", config, {4});
  }
  SECTION("before the gate opened (no best state yet)") {
    require_resume_identity("deeplight:every=3", config, {1});
  }
}

TEST_CASE("resume identity: dedup across its deduplication (a reshaped table and a remap)",
          "[train][resume]") {
  TrainerConfig config = base_config("adam");
  SECTION("at the end of the full stage") { require_resume_identity("dedup:fp=1", config, {2}); }
  SECTION("in the fine-tuning stage") { require_resume_identity("dedup:fp=1", config, {3}); }
}

TEST_CASE("resume identity: two stages, interrupted in each and at the boundary",
          "[train][resume]") {
  const TrainerConfig config = base_config("adam");
  SECTION("in the first stage") { require_resume_identity("staged", config, {1}); }
  SECTION("at the end of the first stage") { require_resume_identity("staged", config, {2}); }
  SECTION("in the second stage") { require_resume_identity("staged", config, {4}); }
}

TEST_CASE("resume: the metrics log continues where it stopped", "[train][resume]") {
  const SyntheticCtr data(tiny_data());
  const std::string path = temp_path("log.ckpt");
  const std::string log = temp_path("log.jsonl");
  TrainerConfig config = base_config("adam");
  config.metrics_log = log;
  config.checkpoint_path = path;
  config.stop_after_evaluations = 2;
  std::vector<Seen> seen;
  run(data, "hash", config, seen);
  config.stop_after_evaluations.reset();
  config.resume_from = path;
  const Outcome out = run(data, "hash", config, seen);
  std::ifstream in(log);
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  CHECK(lines == out.result.evaluations);
  CHECK(lines == seen.size());
  std::filesystem::remove(path);
  std::filesystem::remove(log);
}

TEST_CASE("resume: damaged, foreign and mismatched checkpoints change nothing",
          "[train][resume]") {
  const SyntheticCtr data(tiny_data());
  const TrainerConfig config = base_config("adam");
  const std::string good = temp_path("good.ckpt");
  const std::string bad = temp_path("bad.ckpt");
  write_checkpoint(data, "hash", config, good);
  const std::string bytes = read_bytes(good);

  // Resumes a fresh setup from `file` with `changed` and requires a CheckpointError whose
  // message contains `expected`, with the table and model untouched.
  auto refused = [&](const std::string& file, const TrainerConfig& changed,
                     const std::string& expected, std::uint64_t seed = 7) {
    Setup s = build(data, "hash", seed);
    const State before = state_of(*s.table, *s.model);
    TrainerConfig resume = changed;
    resume.resume_from = file;
    Trainer trainer(resume);
    CHECK_THROWS_AS(trainer.train(data, *s.table, *s.model), CheckpointError);
    CHECK_THROWS_WITH(trainer.train(data, *s.table, *s.model), Catch::Contains(expected));
    CHECK(state_of(*s.table, *s.model) == before);
  };

  SECTION("truncated") {
    for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{60}, bytes.size() / 2,
                            bytes.size() - 1}) {
      INFO("cut at " << cut << " of " << bytes.size());
      write_bytes(bad, bytes.substr(0, cut));
      refused(bad, config, "truncated");
    }
  }
  SECTION("a flipped bit") {
    for (std::size_t at : {std::size_t{9}, std::size_t{100}, bytes.size() / 3, bytes.size() - 20}) {
      INFO("bit flipped in byte " << at);
      std::string damaged = bytes;
      damaged[at] = static_cast<char>(damaged[at] ^ 0x04);
      write_bytes(bad, damaged);
      refused(bad, config, "checksum mismatch");
    }
  }
  SECTION("foreign files") {
    write_bytes(bad, "PK\x03\x04 this is a zip file, not a checkpoint at all");
    refused(bad, config, "not an embcomp checkpoint");
    build(data, "hash").table->save(bad);
    refused(bad, config, "is a table checkpoint");
    refused(temp_path("missing.ckpt"), config, "cannot open");
  }
  SECTION("another configuration") {
    TrainerConfig changed = config;
    changed.batch_size = 64;
    refused(good, changed, "batch_size = 128, this run has batch_size = 64");
    changed = config;
    changed.optimizer = "adagrad";
    refused(good, changed, "optimizer = adam");
    changed = config;
    changed.learning_rate = 0.02f;
    refused(good, changed, "learning_rate");
    changed = config;
    changed.max_validation_rows = 1000;
    refused(good, changed, "max_validation_rows");
  }
  SECTION("another table") { refused(good, config, "seed 7, this table 8", 8); }
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

TEST_CASE("resume: a checkpoint that cannot be written is a clear error", "[train][resume]") {
  const SyntheticCtr data(tiny_data());
  TrainerConfig config = base_config("sgd");
  config.checkpoint_path = temp_path("no/such/directory/run.ckpt");
  Setup s = build(data, "hash");
  CHECK_THROWS_WITH(Trainer(config).train(data, *s.table, *s.model),
                    Catch::Contains("cannot open") && Catch::Contains("run.ckpt.tmp"));
  config.checkpoint_path.clear();
  config.stop_after_evaluations = 0;
  CHECK_THROWS_WITH(Trainer(config), Catch::Contains("stop_after_evaluations"));
}

TEST_CASE("resume: another method or model is refused", "[train][resume]") {
  const SyntheticCtr data(tiny_data());
  const std::string path = temp_path("other.ckpt");
  write_checkpoint(data, "hash", base_config("adam"), path);
  TrainerConfig resume = base_config("adam");
  resume.resume_from = path;

  Setup full = build(data, "full");
  const State before = state_of(*full.table, *full.model);
  CHECK_THROWS_WITH(Trainer(resume).train(data, *full.table, *full.model),
                    Catch::Contains("spec 'hash") && Catch::Contains("'full'"));
  CHECK(state_of(*full.table, *full.model) == before);

  Setup hash = build(data, "hash");
  ModelArgs args = hash.model->args();
  auto wdl = make_model("wdl", args);
  CHECK_THROWS_WITH(Trainer(resume).train(data, *hash.table, *wdl),
                    Catch::Contains("model is 'dlrm'"));
  std::filesystem::remove(path);
}

TEST_CASE("inspect_checkpoint: training and table checkpoints", "[train][resume]") {
  const SyntheticCtr data(tiny_data());
  const std::string path = temp_path("info.ckpt");
  TrainerConfig config = base_config("adam");
  config.checkpoint_path = path;
  config.stop_after_evaluations = 2;
  std::vector<Evaluation> seen;
  config.on_evaluation = [&](const Evaluation& e) { seen.push_back(e); };
  Setup s = build(data, "hash");
  Trainer trainer(config);
  const TrainResult result = trainer.train(data, *s.table, *s.model);
  REQUIRE(seen.size() == 2);

  CHECK(checkpoint_kind(path) == CheckpointKind::training);
  const CheckpointInfo info = inspect_checkpoint(path);
  CHECK(info.kind == CheckpointKind::training);
  CHECK(info.format_version == 2);
  CHECK(info.method_spec == s.table->spec());
  CHECK(info.schema.cardinalities == s.table->schema().cardinalities);
  CHECK(info.schema.dim == 8);
  CHECK(info.seed == 7);
  CHECK(info.model_name == "dlrm");
  CHECK(info.optimizer == "adam");
  CHECK(info.learning_rate == config.learning_rate);
  CHECK(info.batch_size == 128);
  CHECK(info.step == seen.back().step);
  CHECK(info.stage == 0);
  CHECK(info.stages == 1);
  CHECK(info.evaluations == 2);
  CHECK(info.best_validation_auc == result.best_validation_auc);
  CHECK(info.memory.serving_bytes == result.memory.serving_bytes);
  CHECK(info.memory.optimizer_bytes == result.memory.optimizer_bytes);
  CHECK(info.memory.optimizer_bytes > 0);
  CHECK(info.model_parameter_bytes == s.model->parameter_bytes());

  s.table->save(path);
  CHECK(checkpoint_kind(path) == CheckpointKind::table);
  const CheckpointInfo table_info = inspect_checkpoint(path);
  CHECK(table_info.kind == CheckpointKind::table);
  CHECK(table_info.format_version == 2);
  CHECK(table_info.method_spec == s.table->spec());
  CHECK(table_info.schema.cardinalities == s.table->schema().cardinalities);
  CHECK_FALSE(table_info.frozen);
  CHECK(table_info.memory.serving_bytes == s.table->memory().serving_bytes);
  CHECK(table_info.model_name.empty());

  write_bytes(path, "not a checkpoint");
  CHECK_THROWS_WITH(inspect_checkpoint(path), Catch::Contains("not an embcomp checkpoint"));
  std::filesystem::remove(path);
}
