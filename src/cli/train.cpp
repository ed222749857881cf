// embcomp train: one model with one compressed table, on synthetic data or files.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli.hpp"
#include "data_options.hpp"
#include "device.hpp"
#include "run.hpp"

namespace embcomp::cli {

namespace {

/// Without --ratio a method trains at 10x, or at the highest ratio it reaches when that is lower
/// (full 1x, int16 2x, int8 4x), so `embcomp train --method M` works for every method.
constexpr double kDefaultRatio = 10.0;

struct TrainOptions {
  DataOptions data;
  RunOptions run;
  std::string method = "hash";
  double ratio = 0.0;  // 0: the default, kDefaultRatio or the method's highest when lower
  std::string out;
};

int run_train(const TrainOptions& o) {
  set_threads(o.run.threads);
  backend_for(o.run.device);  // a device this build cannot use is refused before the data is read
  const Data data = open_data(o.data);
  const Schema schema = data.source->schema(o.run.dim);
  std::printf("data: %s, %lld fields, %lld ids, %lld/%lld/%lld train/val/test rows\n",
              data.name.c_str(), static_cast<long long>(schema.num_fields()),
              static_cast<long long>(schema.total_rows()),
              static_cast<long long>(data.source->rows(SplitPart::train)),
              static_cast<long long>(data.source->rows(SplitPart::validation)),
              static_cast<long long>(data.source->rows(SplitPart::test)));
  const double ratio =
      o.ratio > 0.0 ? o.ratio : std::min(kDefaultRatio, highest_ratio(o.method, schema));
  json summary = run_training(data, o.method, ratio, o.run, o.out, Verbosity::progress);
  print_summary(summary);
  if (!o.out.empty()) std::printf("wrote %s/summary.json\n", o.out.c_str());
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* train = app.add_subcommand("train", "train a CTR model with a compressed table");
  add_data_options(train, o->data);
  train->add_option("--model", o->run.model, "CTR model")
      ->capture_default_str()->check(CLI::IsMember({"dlrm", "wdl", "dcn"}));
  train->add_option("--method", o->method, "method factory string, e.g. qr:op=mul")
      ->capture_default_str();
  train->add_option("--ratio", o->ratio,
                    "compression ratio (full fp32 bytes / serving bytes); default: 10, or the "
                    "method's highest when lower (full 1, int16 2, int8 4)")
      ->default_str("10")->check(finite_ratio());
  add_run_options(train, o->run);
  train->add_option("--checkpoint", o->run.checkpoint,
                    "write a training checkpoint to this file after every evaluation");
  train->add_option("--resume", o->run.resume,
                    "continue from a training checkpoint (same data, method, model and options)")
      ->check(CLI::ExistingFile);
  train->add_option("--out", o->out, "directory for summary.json and metrics.jsonl");
  return {train, [o] { return run_train(*o); }};
}

}  // namespace embcomp::cli
