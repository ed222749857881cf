// Output helpers shared by the subcommands.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <limits>

#include "cli.hpp"
#include "embcomp/core/atomic_file.hpp"
#include "embcomp/core/error.hpp"
#include "embcomp/registry.hpp"

namespace embcomp::cli {

json memory_json(const MemoryReport& m) {
  return {{"full_bytes", m.full_bytes},
          {"parameter_bytes", m.parameter_bytes},
          {"index_bytes", m.index_bytes},
          {"optimizer_bytes", m.optimizer_bytes},
          {"serving_bytes", m.serving_bytes},
          {"training_bytes", m.training_bytes()},
          {"peak_training_bytes", m.peak_training_bytes},
          {"ratio", m.ratio()},
          {"training_ratio", m.training_ratio()}};
}

json statistics_json(const std::vector<TableStatistic>& statistics) {
  json value = json::object();
  for (const TableStatistic& s : statistics) value[s.name] = s.value;
  return value;
}

void print_statistics(const json& statistics) {
  std::printf("table      ");
  for (const auto& [name, value] : statistics.items()) std::printf(" %s %.15g", name.c_str(), value.get<double>());
  std::printf("\n");
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  write_file_atomically(path.string(), [&](std::ostream& out) { out << text; });
}

void write_json(const std::filesystem::path& path, const json& value) {
  write_text(path, value.dump(2) + "\n");
}

CLI::Validator finite_ratio() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double value = 0.0;
        if (!CLI::detail::lexical_cast(text, value) || !(value >= 1.0 && value <= 1e12)) {
          return "ratio " + text + " is not a number in [1, 1e12]";
        }
        return {};
      },
      "RATIO in [1, 1e12]");
}

double highest_ratio(const std::string& spec, const Schema& schema) {
  try {
    make_table(spec, TableArgs{schema, Budget{1e15}, 1});
  } catch (const InfeasibleBudget& e) {
    return e.limit_ratio();
  }
  return std::numeric_limits<double>::infinity();
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

}  // namespace embcomp::cli
