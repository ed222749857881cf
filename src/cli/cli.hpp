// The pieces of the `embcomp` command line shared by its subcommands. One file per subcommand
// (train.cpp, sweep.cpp, prep.cpp, info.cpp, methods.cpp) adds itself to the CLI11 app and
// returns what runs when it was given; main.cpp maps errors to exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>

#include "embcomp/core/memory.hpp"
#include "embcomp/table.hpp"

namespace embcomp::cli {

using json = nlohmann::ordered_json;

/// A subcommand: its CLI11 node and the action to run once the command line parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_train_command(CLI::App& app);
Command add_sweep_command(CLI::App& app);
Command add_prep_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_methods_command(CLI::App& app);

/// The report as JSON: every byte count, the ratio and the training ratio.
json memory_json(const MemoryReport& memory);

/// A method's statistics() as one JSON object, name -> value.
json statistics_json(const std::vector<TableStatistic>& statistics);
/// Prints statistics_json's object as the report line "table       name value ...".
void print_statistics(const json& statistics);

/// Writes `value` to `path` (pretty-printed) with write_file_atomically: a reader never sees
/// half a file. Throws Error when it cannot be written.
void write_json(const std::filesystem::path& path, const json& value);

/// Writes `text` to `path` the same way.
void write_text(const std::filesystem::path& path, const std::string& text);

/// A CLI11 check of a compression ratio: a finite number in [1, 1e12] (CLI::Range lets NaN
/// through).
CLI::Validator finite_ratio();

/// The highest ratio the method `spec` reaches on `schema`: asking for an absurd one makes the
/// method name its limit before it allocates anything.
double highest_ratio(const std::string& spec, const Schema& schema);

/// Whether standard output is a terminal (progress bars) rather than a file or a pipe.
bool stdout_is_terminal();

}  // namespace embcomp::cli
