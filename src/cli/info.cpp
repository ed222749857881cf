// embcomp info: what a checkpoint file holds (table or training checkpoint): method, schema,
// memory report and, for training checkpoints, where the run stands. The whole file is
// checked first; a damaged or foreign file is an error (exit 1).
#include <cstdio>
#include <memory>

#include "cli.hpp"
#include "embcomp/train/checkpoint.hpp"

namespace embcomp::cli {

namespace {

struct InfoOptions {
  std::string path;
  bool as_json = false;
};

json info_json(const CheckpointInfo& info) {
  json value = {{"kind", info.kind == CheckpointKind::table ? "table" : "training"},
                {"format_version", info.format_version},
                {"method", info.method_spec},
                {"fields", info.schema.num_fields()},
                {"ids", info.schema.total_rows()},
                {"cardinalities", info.schema.cardinalities},
                {"dim", info.schema.dim},
                {"budget_ratio", info.budget_ratio},
                {"seed", info.seed},
                {"memory", memory_json(info.memory)}};
  if (info.kind == CheckpointKind::table) {
    value["frozen"] = info.frozen;
    if (!info.statistics.empty()) value["table_statistics"] = statistics_json(info.statistics);
    return value;
  }
  value["model"] = info.model_name;
  value["model_parameter_bytes"] = info.model_parameter_bytes;
  value["optimizer"] = info.optimizer;
  value["lr"] = info.learning_rate;
  value["batch"] = info.batch_size;
  value["step"] = info.step;
  value["stage"] = info.stage;
  value["stages"] = info.stages;
  value["evaluations"] = info.evaluations;
  value["best_validation_auc"] = info.best_validation_auc;
  value["best_step"] = info.best_step;
  value["stage_finished"] = info.stage_finished;
  return value;
}

void print_info(const CheckpointInfo& info) {
  const MemoryReport& m = info.memory;
  std::printf("kind        %s checkpoint (format %u)%s\n",
              info.kind == CheckpointKind::table ? "table" : "training", info.format_version,
              info.kind == CheckpointKind::table && info.frozen ? ", frozen (serving form)" : "");
  std::printf("method      %s (budget %gx, seed %llu)\n", info.method_spec.c_str(),
              info.budget_ratio, static_cast<unsigned long long>(info.seed));
  std::printf("schema      %lld fields, %lld ids, dim %lld\n",
              static_cast<long long>(info.schema.num_fields()),
              static_cast<long long>(info.schema.total_rows()),
              static_cast<long long>(info.schema.dim));
  std::printf("memory      %s\n", m.to_string().c_str());
  if (!info.statistics.empty()) print_statistics(statistics_json(info.statistics));
  if (info.kind == CheckpointKind::training) {
    std::printf("model       %s, %zu parameter bytes\n", info.model_name.c_str(),
                info.model_parameter_bytes);
    std::printf("optimizer   %s lr %g, batch %lld\n", info.optimizer.c_str(),
                static_cast<double>(info.learning_rate), static_cast<long long>(info.batch_size));
    std::printf("progress    step %llu, stage %zu of %zu%s, %zu evaluations, best validation "
                "auc %.5f at step %llu\n",
                static_cast<unsigned long long>(info.step), info.stage + 1, info.stages,
                info.stage_finished ? " (finished)" : "", info.evaluations,
                info.best_validation_auc, static_cast<unsigned long long>(info.best_step));
  }
}

int run_info(const InfoOptions& o) {
  const CheckpointInfo info = inspect_checkpoint(o.path);
  if (o.as_json) {
    std::printf("%s\n", info_json(info).dump(2).c_str());
  } else {
    print_info(info);
  }
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* info = app.add_subcommand("info", "a checkpoint's metadata and memory report");
  info->add_option("checkpoint", o->path, "table or training checkpoint file")
      ->required()->check(CLI::ExistingFile);
  info->add_flag("--json", o->as_json, "print JSON");
  return {info, [o] { return run_info(*o); }};
}

}  // namespace embcomp::cli
