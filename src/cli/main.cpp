// embcomp: the command line.
//   embcomp train [options]   trains a model with a compressed embedding table on synthetic data
//   embcomp methods           lists the registered methods and their options
// Exit codes: 0 success, 1 a runtime error, 2 bad arguments or an infeasible budget (CLI11's
// own parse errors keep CLI11's codes).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "embcomp/data/schemas.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/train/trainer.hpp"

namespace {

using namespace embcomp;
using json = nlohmann::ordered_json;

struct TrainOptions {
  double scale = 0.001;
  Index train_rows = 1'000'000;
  Index validation_rows = 100'000;
  Index test_rows = 100'000;
  std::uint64_t data_seed = 1;
  std::string model = "dlrm";
  std::string method = "hash";
  double ratio = 10.0;
  Index dim = 16;
  Index batch = 128;
  std::string optimizer = "sgd";
  double lr = 1e-3;
  double epochs = 0.1;
  Index evaluations = 10;
  Index patience = 10;
  int threads = 0;
  std::uint64_t seed = 123;
  std::string out;
};

json memory_json(const MemoryReport& m) {
  return {{"full_bytes", m.full_bytes},
          {"parameter_bytes", m.parameter_bytes},
          {"index_bytes", m.index_bytes},
          {"optimizer_bytes", m.optimizer_bytes},
          {"serving_bytes", m.serving_bytes},
          {"training_bytes", m.training_bytes()},
          {"ratio", m.ratio()},
          {"training_ratio", m.training_ratio()}};
}

int run_train(const TrainOptions& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  if (!o.out.empty()) std::filesystem::create_directories(o.out);

  SyntheticConfig data_config;
  data_config.cardinalities = scaled_cardinalities(criteo_kaggle_schema(), o.scale);
  data_config.train_rows = o.train_rows;
  data_config.validation_rows = o.validation_rows;
  data_config.test_rows = o.test_rows;
  data_config.seed = o.data_seed;
  const SyntheticCtr data(data_config);
  const Schema schema = data.schema(o.dim);

  auto table = make_table(o.method, TableArgs{schema, Budget{o.ratio}, o.seed});
  ModelArgs model_args;
  model_args.num_fields = schema.num_fields();
  model_args.dim = o.dim;
  model_args.num_dense = data.num_dense();
  model_args.seed = o.seed;
  auto model = make_model(o.model, model_args);

  TrainerConfig config;
  config.batch_size = o.batch;
  config.epochs = o.epochs;
  config.evaluations_per_epoch = o.evaluations;
  config.patience = o.patience;
  config.optimizer = o.optimizer;
  config.learning_rate = static_cast<float>(o.lr);
  if (!o.out.empty()) config.metrics_log = (std::filesystem::path(o.out) / "metrics.jsonl").string();
  config.on_evaluation = [](const Evaluation& e) {
    std::printf("step %8llu  stage %zu  epoch %6.3f  train loss %.5f  val auc %.5f  "
                "val logloss %.5f  %.0f samples/s%s\n",
                static_cast<unsigned long long>(e.step), e.stage, e.epoch, e.train_loss, e.auc,
                e.logloss, e.samples_per_second, e.improved ? "  *" : "");
    std::fflush(stdout);
  };

  std::printf("data: synthetic, %lld fields, %lld ids, %lld/%lld/%lld train/val/test rows\n",
              static_cast<long long>(schema.num_fields()),
              static_cast<long long>(schema.total_rows()), static_cast<long long>(o.train_rows),
              static_cast<long long>(o.validation_rows), static_cast<long long>(o.test_rows));
  std::printf("table: %s at %gx, model %s, dim %lld, %d threads\n", table->spec().c_str(),
              o.ratio, model->name().c_str(), static_cast<long long>(o.dim),
              omp_get_max_threads());
  std::fflush(stdout);

  Trainer trainer(config);
  const TrainResult r = trainer.train(data, *table, *model);
  const BayesMetrics bayes = data.bayes_metrics(SplitPart::test);

  std::printf("\nvalidation  auc %.5f  logloss %.5f  (best of %zu evaluations, step %llu%s)\n",
              r.best_validation_auc, r.best_validation_logloss, r.evaluations,
              static_cast<unsigned long long>(r.best_step),
              r.stopped_early ? ", stopped early" : "");
  std::printf("test        auc %.5f  logloss %.5f\n", r.test_auc, r.test_logloss);
  std::printf("bayes       auc %.5f  logloss %.5f  (the generator's true probabilities)\n",
              bayes.auc, bayes.logloss);
  std::printf("training    %llu steps, %.0f samples/s, %.2f s\n",
              static_cast<unsigned long long>(r.steps), r.train_samples_per_second,
              r.train_seconds);
  std::printf("memory      %s\n", r.memory.to_string().c_str());
  std::printf("model       %zu parameter bytes\n", r.model_parameter_bytes);

  if (!o.out.empty()) {
    json summary = {
        {"command", "train"},
        {"data",
         {{"source", "synthetic"},
          {"scale", o.scale},
          {"seed", o.data_seed},
          {"fields", schema.num_fields()},
          {"ids", schema.total_rows()},
          {"train_rows", o.train_rows},
          {"validation_rows", o.validation_rows},
          {"test_rows", o.test_rows}}},
        {"method", table->spec()},
        {"requested_ratio", o.ratio},
        {"model", model->name()},
        {"dim", o.dim},
        {"batch", o.batch},
        {"optimizer", o.optimizer},
        {"lr", o.lr},
        {"epochs", o.epochs},
        {"evaluations_per_epoch", o.evaluations},
        {"patience", o.patience},
        {"threads", omp_get_max_threads()},
        {"seed", o.seed},
        {"validation", {{"auc", r.best_validation_auc}, {"logloss", r.best_validation_logloss}}},
        {"test", {{"auc", r.test_auc}, {"logloss", r.test_logloss}}},
        {"bayes", {{"auc", bayes.auc}, {"logloss", bayes.logloss}}},
        {"steps", r.steps},
        {"best_step", r.best_step},
        {"evaluations", r.evaluations},
        {"stopped_early", r.stopped_early},
        {"train_seconds", r.train_seconds},
        {"train_samples_per_second", r.train_samples_per_second},
        {"memory", memory_json(r.memory)},
        {"model_parameter_bytes", r.model_parameter_bytes}};
    const auto path = std::filesystem::path(o.out) / "summary.json";
    std::ofstream file(path);
    file << summary.dump(2) << '\n';
    if (!file) throw InvalidArgument(std::string("cannot write ").append(path.string()));
    std::printf("wrote %s\n", path.string().c_str());
  }
  return 0;
}

int run_methods() {
  for (const MethodInfo& m : methods()) {
    std::printf("%-10s %s\n", m.key.c_str(), m.summary.c_str());
    for (const OptionInfo& option : m.options) {
      std::printf("    %s=%s  %s\n", option.name.c_str(), option.default_value.c_str(),
                  option.help.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"embcomp: learnable embedding-table compression for recommendation models"};
  app.require_subcommand(1);

  TrainOptions o;
  CLI::App* train = app.add_subcommand("train", "train a CTR model with a compressed table");
  train->add_option("--scale", o.scale, "synthetic cardinalities as a fraction of Criteo's")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--train-rows", o.train_rows, "synthetic training rows")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--val-rows", o.validation_rows, "synthetic validation rows")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--test-rows", o.test_rows, "synthetic test rows")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--data-seed", o.data_seed, "seed of the synthetic generator")
      ->capture_default_str();
  train->add_option("--model", o.model, "CTR model")
      ->capture_default_str()->check(CLI::IsMember({"dlrm", "wdl", "dcn"}));
  train->add_option("--method", o.method, "method factory string, e.g. qr:op=mul")
      ->capture_default_str();
  train->add_option("--ratio", o.ratio, "compression ratio (full fp32 bytes / serving bytes)")
      ->capture_default_str()->check(CLI::Range(1.0, 1e12));
  train->add_option("--dim", o.dim, "embedding dimension")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--batch", o.batch, "batch size")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--optimizer", o.optimizer, "optimizer")
      ->capture_default_str()->check(CLI::IsMember({"sgd", "adagrad", "adam"}));
  train->add_option("--lr", o.lr, "learning rate")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--epochs", o.epochs, "epochs (fractions allowed)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--evals-per-epoch", o.evaluations, "validation evaluations per epoch")
      ->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--patience", o.patience, "evaluations without improvement (0: never stop)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  train->add_option("--threads", o.threads, "OpenMP threads (0: the OpenMP default)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  train->add_option("--seed", o.seed, "seed of the table and model")->capture_default_str();
  train->add_option("--out", o.out, "directory for summary.json and metrics.jsonl");

  app.add_subcommand("methods", "list the registered methods and their options");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (train->parsed()) return run_train(o);
    return run_methods();
  } catch (const InfeasibleBudget& e) {
    std::fprintf(stderr, "embcomp: %s\n", e.what());
    return 2;
  } catch (const InvalidArgument& e) {
    std::fprintf(stderr, "embcomp: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embcomp: %s\n", e.what());
    return 1;
  }
}
