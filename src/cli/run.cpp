#include "run.hpp"

#include <omp.h>

#include <cstdio>

#include "device.hpp"
#include "embcomp/models/factory.hpp"
#include "embcomp/registry.hpp"
#include "embcomp/train/trainer.hpp"
#include "progress.hpp"

namespace embcomp::cli {

namespace {

TrainerConfig trainer_config(const RunOptions& o) {
  TrainerConfig config;
  config.batch_size = o.batch;
  config.epochs = o.epochs;
  config.evaluations_per_epoch = o.evaluations;
  config.patience = o.patience;
  config.optimizer = o.optimizer;
  config.learning_rate = static_cast<float>(o.lr);
  if (o.max_eval_rows > 0) {
    config.max_validation_rows = o.max_eval_rows;
    config.max_test_rows = o.max_eval_rows;
  }
  config.checkpoint_path = o.checkpoint;
  config.resume_from = o.resume;
  config.prefetch = prefetch_for(o, omp_get_max_threads(), omp_get_num_procs());
  config.backend = backend_for(o.device);
  return config;
}

void print_evaluation(const Evaluation& e) {
  std::printf("step %8llu  stage %zu  epoch %6.3f  train loss %.5f  val auc %.5f  "
              "val logloss %.5f  %.0f samples/s%s\n",
              static_cast<unsigned long long>(e.step), e.stage, e.epoch, e.train_loss, e.auc,
              e.logloss, e.samples_per_second, e.improved ? "  *" : "");
  std::fflush(stdout);
}

json summary_of(const Data& data, const EmbeddingTable& table, const Model& model,
                double ratio, const RunOptions& o, const TrainerConfig& config,
                const TrainResult& r) {
  json summary = {{"data", data.description},
                  {"method", table.spec()},
                  {"requested_ratio", ratio},
                  {"ratio", r.memory.ratio()},
                  {"model", model.name()},
                  {"dim", o.dim},
                  {"batch", o.batch},
                  {"optimizer", o.optimizer},
                  {"lr", o.lr},
                  {"epochs", o.epochs},
                  {"evaluations_per_epoch", o.evaluations},
                  {"patience", o.patience},
                  {"threads", omp_get_max_threads()},
                  {"prefetch", config.prefetch},
                  {"device", r.backend},
                  {"seed", o.seed},
                  {"validation", {{"auc", r.best_validation_auc}, {"logloss", r.best_validation_logloss}}},
                  {"test", {{"auc", r.test_auc}, {"logloss", r.test_logloss}}},
                  {"steps", r.steps},
                  {"best_step", r.best_step},
                  {"evaluations", r.evaluations},
                  {"stopped_early", r.stopped_early},
                  {"train_seconds", r.train_seconds},
                  {"train_samples_per_second", r.train_samples_per_second},
                  {"memory", memory_json(r.memory)},
                  {"model_parameter_bytes", r.model_parameter_bytes}};
  if (data.bayes) {
    summary["bayes"] = {{"auc", data.bayes->auc}, {"logloss", data.bayes->logloss}};
  }
  const std::vector<TableStatistic> statistics = table.statistics();
  if (!statistics.empty()) summary["table_statistics"] = statistics_json(statistics);
  return summary;
}

}  // namespace

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

json run_training(const Data& data, const std::string& method, double ratio,
                  const RunOptions& o, const std::filesystem::path& out, Verbosity verbosity) {
  const Schema schema = data.source->schema(o.dim);
  std::shared_ptr<const IdCounts> counts;
  if (method_info(SpecString::parse(method).key).uses_counts) counts = data.training_counts();
  auto table = make_table(method, TableArgs{schema, Budget{ratio}, o.seed, counts});
  ModelArgs model_args;
  model_args.num_fields = schema.num_fields();
  model_args.dim = o.dim;
  model_args.num_dense = data.source->num_dense();
  model_args.seed = o.seed;
  auto model = make_model(o.model, model_args);

  TrainerConfig config = trainer_config(o);
  if (!out.empty()) {
    std::filesystem::create_directories(out);
    config.metrics_log = (out / "metrics.jsonl").string();
  }
  std::optional<ProgressBar> progress;
  if (verbosity == Verbosity::progress) {
    std::printf("table: %s at %gx, model %s, dim %lld, %d threads, device %s\n",
                table->spec().c_str(), ratio, model->name().c_str(),
                static_cast<long long>(o.dim), omp_get_max_threads(), o.device.c_str());
    std::fflush(stdout);
    if (stdout_is_terminal()) progress.emplace();
    config.on_evaluation = [&progress](const Evaluation& e) {
      if (progress) progress->clear();
      print_evaluation(e);
    };
    if (progress) {
      config.on_step = [&progress](const StepProgress& s) {
        progress->update(static_cast<std::uint64_t>(s.stage_step),
                         static_cast<std::uint64_t>(s.stage_steps), s.train_loss,
                         s.samples_per_second);
      };
    }
  }

  Trainer trainer(config);
  const TrainResult result = trainer.train(*data.source, *table, *model);
  if (progress) progress->clear();
  json summary = summary_of(data, *table, *model, ratio, o, config, result);
  if (!out.empty()) write_json(out / "summary.json", summary);
  return summary;
}

void print_summary(const json& s) {
  std::printf("\nvalidation  auc %.5f  logloss %.5f  (best of %zu evaluations, step %llu%s)\n",
              s["validation"]["auc"].get<double>(), s["validation"]["logloss"].get<double>(),
              s["evaluations"].get<std::size_t>(), s["best_step"].get<unsigned long long>(),
              s["stopped_early"].get<bool>() ? ", stopped early" : "");
  std::printf("test        auc %.5f  logloss %.5f\n", s["test"]["auc"].get<double>(),
              s["test"]["logloss"].get<double>());
  if (s.contains("bayes")) {
    std::printf("bayes       auc %.5f  logloss %.5f  (the generator's true probabilities)\n",
                s["bayes"]["auc"].get<double>(), s["bayes"]["logloss"].get<double>());
  }
  std::printf("training    %llu steps, %.0f samples/s, %.2f s\n",
              s["steps"].get<unsigned long long>(), s["train_samples_per_second"].get<double>(),
              s["train_seconds"].get<double>());
  const json& m = s["memory"];
  std::printf("memory      parameters %llu B, index %llu B, optimizer %llu B, serving %llu B, "
              "ratio %.4gx (training %.4gx)\n",
              m["parameter_bytes"].get<unsigned long long>(), m["index_bytes"].get<unsigned long long>(),
              m["optimizer_bytes"].get<unsigned long long>(), m["serving_bytes"].get<unsigned long long>(),
              m["ratio"].get<double>(), m["training_ratio"].get<double>());
  std::printf("model       %llu parameter bytes\n", s["model_parameter_bytes"].get<unsigned long long>());
  if (s.contains("table_statistics")) print_statistics(s["table_statistics"]);
  std::fflush(stdout);
}

}  // namespace embcomp::cli
