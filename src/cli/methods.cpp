// embcomp methods: every registered method with its options and the compression ratios it
// can reach on a schema (Criteo Kaggle's by default).
#include <cstdio>
#include <memory>

#include "cli.hpp"
#include "embcomp/data/schemas.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/registry.hpp"

namespace embcomp::cli {

namespace {

struct MethodsOptions {
  double scale = 1.0;
  Index dim = 16;
};

int run_methods(const MethodsOptions& o) {
  const Schema schema{scaled_cardinalities(criteo_kaggle_schema(), o.scale), o.dim};
  std::printf("ratios reachable on Criteo Kaggle's cardinalities x %g (%lld ids), dim %lld\n\n",
              o.scale, static_cast<long long>(schema.total_rows()), static_cast<long long>(o.dim));
  for (const MethodInfo& m : methods()) {
    std::printf("%-10s %s\n", m.key.c_str(), m.summary.c_str());
    std::printf("    budgets up to %.4gx\n", highest_ratio(m.key, schema));
    if (!m.serving_form.empty()) std::printf("    serving form: %s\n", m.serving_form.c_str());
    for (const OptionInfo& option : m.options) {
      std::printf("    %s=%s  %s\n", option.name.c_str(), option.default_value.c_str(),
                  option.help.c_str());
    }
  }
  return 0;
}

}  // namespace

Command add_methods_command(CLI::App& app) {
  auto o = std::make_shared<MethodsOptions>();
  CLI::App* command =
      app.add_subcommand("methods", "list the registered methods, their options and ratio ranges");
  command->add_option("--scale", o->scale, "cardinalities as a fraction of Criteo Kaggle's")
      ->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--dim", o->dim, "embedding dimension")
      ->capture_default_str()->check(CLI::PositiveNumber);
  return {command, [o] { return run_methods(*o); }};
}

}  // namespace embcomp::cli
