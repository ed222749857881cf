// The records of `embcomp sweep`, one per cell, and what they are written as:
//
//   record       {model, method, requested_ratio, status, note}, status one of
//                ok | infeasible | diverged | skipped; an ok record adds the run's numbers
//                (spec, ratio, bytes, validation and test metrics, speed, run directory), an
//                infeasible one its limit_ratio
//   results.json {command, data, optimizer, lr, batch, dim, epochs, seed, jobs, threads,
//                records} (threads: per run, 0 the OpenMP default)
//   results.csv  a header, then one line per record (fixed columns, empty when absent)
//   results.md   per model a table of test AUC by method x ratio, then every record
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cli.hpp"
#include "run.hpp"
#include "sweep_grid.hpp"

namespace embcomp::cli {

/// A record of `cell` with `status` and `note` and no numbers (skipped, diverged, ...).
json record_of(const Cell& cell, const std::string& status, const std::string& note);

/// The ok record of `cell` from run_training's `summary`; `directory` is the run's folder,
/// relative to --out.
json trained_record(const Cell& cell, const json& summary, const std::string& directory);

/// The record of a cell its method cannot reach: the note names `limit`, the highest ratio it
/// can.
json infeasible_record(const Cell& cell, double limit);

/// "10.929x": a ratio with `digits` significant digits (6 tell a limit of 1.99998x from 2x).
std::string ratio_text(double ratio, int digits = 5);

/// A method's highest reachable ratio, with enough digits to tell 1.99998x from 2x.
std::string limit_text(double ratio);

/// results.csv of `records`: a header line, then one line per record.
std::string csv_of(const json& records);

/// results.md of `records`: per model of `grid` a test AUC table (a column per ratio of `grid`,
/// as given), then every record. `data` is the dataset's description, `run` the training knobs.
std::string markdown_of(const SweepGrid& grid, const RunOptions& run, const json& data,
                        const json& records);

/// results.json: the training knobs of `run`, the dataset's description `data` and `records`.
json results_json(const RunOptions& run, const json& data, const json& records);

/// Writes results.json, results.csv and results.md of `records` into `out`.
void write_results(const SweepGrid& grid, const RunOptions& run, const std::filesystem::path& out,
                   const json& data, const json& records);

}  // namespace embcomp::cli
