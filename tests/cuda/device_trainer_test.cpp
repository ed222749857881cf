// The trainer on the device backend (cuda::device_backend) against the trainer on the CPU:
// the same schedule, evaluations and results for every method with a twin and every model,
// multi-stage methods included; checkpoints written and resumed from a device run; refusals.
//
// WDL's layers sum in the CPU's order on the device, and in host mode the products are the CPU's
// GEMM: there a WDL run on the device backend equals the CPU run bit for bit, the table's
// checkpoint included, for every method with a twin. DLRM's dot interaction and DCN's cross layers
// sum in another order than the CPU's (device_model_test.cpp), and on a GPU cuBLAS chooses its
// own: those runs drift apart by rounding and are compared within kMetricTolerance (results) and
// kValueTolerance (embeddings). A device run resumed from its checkpoint equals the uninterrupted
// device run bit for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cuda/device_support.hpp"
#include "embcomp/cuda/device_backend.hpp"
#include "embcomp/cuda/device_memory.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/train/trainer.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

constexpr double kMetricTolerance = 2e-3;
constexpr float kValueTolerance = 2e-3f;

SyntheticConfig tiny_data() {
  SyntheticConfig config;
  config.cardinalities = {900, 300, 120, 40, 9, 4};
  config.num_dense = 3;
  config.interaction_pairs = 3;
  config.effect_scale = 1.0;  // a strong signal, so that a short run learns (test AUC 0.6-0.7)
  config.train_rows = 6'400;
  config.validation_rows = 800;
  config.test_rows = 800;
  config.seed = 5;
  return config;
}

TrainerConfig config_for(const std::string& optimizer) {
  TrainerConfig config;
  config.batch_size = 64;
  config.epochs = 1.0;
  config.evaluations_per_epoch = 3;
  config.patience = 0;
  config.optimizer = optimizer;
  config.learning_rate = optimizer == "sgd" ? 0.2f : 0.02f;
  config.prefetch = false;
  return config;
}

struct Run {
  std::unique_ptr<EmbeddingTable> table;
  std::unique_ptr<Model> model;
  TrainResult result;
  std::vector<Evaluation> evaluations;
};

/// The compression ratio `method` is trained at: 4x, or what it reaches on the tiny data (full
/// none; int8 and alpt 4x less the scales).
double ratio_for(const std::string& method) {
  if (method == "full") return 1.0;
  if (method == "int8" || method == "alpt") return 2.5;
  return 4.0;
}

/// dedup with fp=1: the rows of a short run are near-duplicates, so it can merge blocks.
constexpr const char* kDedup = "dedup:fp=1";
/// autosrh with alpha moving visibly in a short search.
constexpr const char* kAutoSrh = "autosrh:alpha_lr=0.05";
/// optembed with a short search (its candidates scored on the host, by validation AUC).
constexpr const char* kOptEmbed = "optembed:generations=2,mutations=4,crossovers=4";
/// autodim with its logits and temperature moving visibly in a short search.
constexpr const char* kAutoDim = "autodim:alpha_lr=0.1,temperature_decay=1e-4";

Run train(const BatchSource& source, const std::string& method, const std::string& model,
          TrainerConfig config, bool on_device) {
  constexpr Index kDim = 8;
  Run run;
  run.table = make_table(method, TableArgs{source.schema(kDim), Budget{ratio_for(method)}, 7});
  ModelArgs args;
  args.num_fields = static_cast<Index>(source.cardinalities().size());
  args.dim = kDim;
  args.num_dense = source.num_dense();
  args.seed = 3;
  args.bottom_hidden = {16};
  args.top_hidden = {16, 8};
  run.model = make_model(model, args);
  if (on_device) config.backend = cuda::device_backend();
  config.on_evaluation = [&run](const Evaluation& e) { run.evaluations.push_back(e); };
  run.result = Trainer(config).train(source, *run.table, *run.model);
  return run;
}

/// The same schedule and, within the tolerances, the same results and embeddings (relative to
/// their largest value; not the same
/// best step: two evaluations within rounding of each other may swap places).
void require_alike(const Run& device, const Run& cpu, const BatchSource& source,
                   bool compare_embeddings = true) {
  REQUIRE(device.result.steps == cpu.result.steps);
  REQUIRE(device.result.evaluations == cpu.result.evaluations);
  REQUIRE(device.evaluations.size() == cpu.evaluations.size());
  for (std::size_t i = 0; i < cpu.evaluations.size(); ++i) {
    INFO("evaluation " << i);
    CHECK(device.evaluations[i].train_loss ==
          Approx(cpu.evaluations[i].train_loss).margin(kMetricTolerance));
    CHECK(device.evaluations[i].auc == Approx(cpu.evaluations[i].auc).margin(kMetricTolerance));
  }
  CHECK(device.result.test_auc == Approx(cpu.result.test_auc).margin(kMetricTolerance));
  CHECK(device.result.test_logloss == Approx(cpu.result.test_logloss).margin(kMetricTolerance));
  if (!compare_embeddings) return;
  Batch batch;
  source.read(SplitPart::test, 0, 64, batch);
  const std::vector<float> e_device = lookup(*device.table, batch.ids);
  const std::vector<float> e_cpu = lookup(*cpu.table, batch.ids);
  float worst = 0.0f, scale = 1.0f;
  for (std::size_t i = 0; i < e_cpu.size(); ++i) {
    worst = std::max(worst, std::fabs(e_device[i] - e_cpu[i]));
    scale = std::max(scale, std::fabs(e_cpu[i]));
  }
  INFO("largest embedding difference " << worst << ", largest value " << scale);
  CHECK(worst <= kValueTolerance * scale);
}

/// Bit for bit: WDL's layers sum in the CPU's order on the device too, and in host mode the
/// products are the CPU's GEMM, so a WDL run on the host shim equals the CPU run.
void require_identical(const Run& device, const Run& cpu) {
  REQUIRE(device.result.steps == cpu.result.steps);
  REQUIRE(device.result.best_step == cpu.result.best_step);
  REQUIRE(device.evaluations.size() == cpu.evaluations.size());
  for (std::size_t i = 0; i < cpu.evaluations.size(); ++i) {
    INFO("evaluation " << i);
    CHECK(device.evaluations[i].train_loss == cpu.evaluations[i].train_loss);
    CHECK(device.evaluations[i].auc == cpu.evaluations[i].auc);
  }
  CHECK(device.result.test_auc == cpu.result.test_auc);
  CHECK(device.result.test_logloss == cpu.result.test_logloss);
  CHECK(checkpoint(*device.table) == checkpoint(*cpu.table));
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("embcomp_cuda_trainer_" + name)).string();
}

}  // namespace

TEST_CASE("the device trainer runs every model as the CPU trainer", "[cuda][trainer]") {
  if (!backend_ready()) return;
  const SyntheticCtr source(tiny_data());
  for (const std::string model : {"dlrm", "wdl", "dcn"}) {
    for (const std::string optimizer : {"sgd", "adam", "rowwise_adagrad"}) {
      INFO(model << " with " << optimizer << " on a hash table");
      const Run cpu = train(source, "hash", model, config_for(optimizer), false);
      const Run device = train(source, "hash", model, config_for(optimizer), true);
      CHECK(cpu.result.backend == "cpu");
      CHECK(device.result.backend == cuda::device_description());
      require_alike(device, cpu, source);
    }
  }
}

TEST_CASE(
    "the device trainer runs every method with a twin as the CPU trainer (bit for bit in host "
    "mode)",
    "[cuda][trainer]") {
  if (!backend_ready()) return;
  const SyntheticCtr source(tiny_data());
  // One stage each, then dedup and deeplight (a stage change mirrors the table again and
  // carries the optimizer state and Adam's t over).
  for (const std::string method :
       {"full", "int8", "alpt", "adaembed", "qr", "mde", "robe", "tt", "cafe:full_below=10",
        "cafe-ml:full_below=10", kDedup, "deeplight:every=3,warmup=0.5", "pep:threshold_init=-5",
        kOptEmbed, "dpq", "mgqe", kAutoSrh, kAutoDim}) {
    INFO(method);
    const Run cpu = train(source, method, "wdl", config_for("adam"), false);
    const Run device = train(source, method, "wdl", config_for("adam"), true);
    if (cuda::host_shim()) {
      require_identical(device, cpu);
    } else {
      require_alike(device, cpu, source);
    }
  }
}

TEST_CASE("the device trainer runs dhe as the CPU trainer (bit for bit in host mode)",
          "[cuda][trainer]") {
  if (!backend_ready()) return;
  const SyntheticCtr source(tiny_data());
  // Its training forward (batch statistics) differs from its lookup: the backend's step runs
  // the twin's forward. On a GPU its rounding differs from the CPU's (dhe_table_test), and
  // training through five BatchNorms amplifies it: when the twin's BatchNorm summed in another
  // order, a network weight's difference grew from 2e-8 after one step to 7e-4 after forty (SGD,
  // lr 0.2). So GPU runs are compared by their evaluations and test metrics, within
  // kMetricTolerance, not by their embeddings.
  for (const std::string optimizer : {"sgd", "adam"}) {
    INFO(optimizer);
    const std::string dhe = "dhe:hashes=16,buckets=1000";
    const Run cpu = train(source, dhe, "wdl", config_for(optimizer), false);
    const Run device = train(source, dhe, "wdl", config_for(optimizer), true);
    if (cuda::host_shim()) {
      require_identical(device, cpu);
    } else {
      require_alike(device, cpu, source, /*compare_embeddings=*/false);
    }
  }
}

TEST_CASE("a device run resumed from its checkpoint equals the uninterrupted one",
          "[cuda][trainer]") {
  if (!backend_ready()) return;
  const SyntheticCtr source(tiny_data());
  // Every kind of state a twin carries: rows, a block remap across a stage change (dedup), a
  // schedule on the host (deeplight), a sketch on the host (cafe), cores and a cache (tt),
  // projections (mde), codes with learned steps (alpt), networks with running statistics (dhe),
  // a supernet's mask counter and a search between stages (optembed), codes in two groups
  // (mgqe), logits and counters on the host and a choice between stages (autodim).
  for (const std::string method :
       {"hash", kDedup, "deeplight:every=3,warmup=0.5", "cafe:full_below=10", "tt", "mde", "alpt",
        "dhe:hashes=16,buckets=1000", kOptEmbed, "mgqe", kAutoSrh, kAutoDim}) {
    INFO(method);
    const Run reference = train(source, method, "dlrm", config_for("adam"), true);
    const std::string path = temp_path(method + ".ckpt");
    std::filesystem::remove(path);
    TrainerConfig first = config_for("adam");
    first.checkpoint_path = path;
    first.stop_after_evaluations = 2;
    REQUIRE_FALSE(train(source, method, "dlrm", first, true).result.completed);
    TrainerConfig second = config_for("adam");
    second.checkpoint_path = path;
    second.resume_from = path;
    const Run resumed = train(source, method, "dlrm", second, true);
    REQUIRE(resumed.result.resumed_from_step > 0);
    CHECK(resumed.result.test_auc == reference.result.test_auc);
    CHECK(resumed.result.test_logloss == reference.result.test_logloss);
    CHECK(resumed.result.best_validation_auc == reference.result.best_validation_auc);
    CHECK(checkpoint(*resumed.table) == checkpoint(*reference.table));
    std::filesystem::remove(path);
  }
}
