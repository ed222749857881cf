// The grid of `embcomp sweep`: which (model, method, ratio) cells it trains, and the variants a
// method entry with alternatives stands for.
//
//   cells:    for model in models, for method in methods (given order):
//               full -> one cell at 1x (the baseline)
//               else -> one cell per ratio, ascending; the default grid (no --methods, no
//                       --full-grid) marks the slow ones skipped (slow_cell)
//   variants: "cafe:hash_share=auto/0.5/0.7,hash_tables=shared" -> one spec per combination of
//             the '/'-separated values, the first option varying slowest; the sweep trains each
//             and keeps the best validation AUC.
//
// A method entry is a factory spec (SpecString, options read by parse_option_pairs); the grid
// only adds the '/' between alternative values.
#pragma once

#include <string>
#include <vector>

namespace embcomp::cli {

/// One cell of the grid.
struct Cell {
  std::string model;
  std::string method;  ///< as given (a key or a factory spec, alternatives included)
  double ratio = 1.0;
  bool skipped = false;   ///< left out of the default grid (slow_cell)
  bool smallest = false;  ///< the method's smallest ratio: if it cannot reach it, it reaches none
};

/// The default ratios, and the full grid's: 2x is near-lossless for every method (test AUC
/// within 0.01 of full's 0.7756 for all of them in the suite; dhe, qr and dedup the farthest at
/// 0.007-0.009 below), so the default leaves it to --full-grid and spends its 15 minutes on
/// the ratios where methods differ.
inline const std::vector<double> kDefaultRatios = {10, 100, 1000, 10000};
inline const std::vector<double> kFullGridRatios = {2, 10, 100, 1000, 10000};

/// The grid's axes as given on the command line.
struct SweepGrid {
  std::vector<std::string> methods;  ///< keys or factory specs; empty: every registered method
  std::vector<double> ratios = kDefaultRatios;  ///< --full-grid adds 2 (unless given)
  std::vector<std::string> models = {"dlrm"};
  bool full_grid = false;  ///< 2x too, and the cells the default grid leaves out (slow_cell)
};

/// The method key of a spec: "qr:op=mul/add" -> "qr".
std::string method_key(const std::string& method);

/// Whether `method` is the uncompressed baseline (`full`), which runs once per model at 1x.
bool is_baseline(const std::string& method);

/// Whether the default grid leaves the cell (method `key`, `ratio`) out as too slow.
bool slow_cell(const std::string& key, double ratio);

/// The ratios `grid` trains at, ascending: --full-grid turns the default ones into the full
/// grid's (2x added).
std::vector<double> grid_ratios(const SweepGrid& grid);

/// The cells of `grid`, in the order they run (see the top of this file).
std::vector<Cell> expand_grid(const SweepGrid& grid);

/// "a/b/c" -> {"a", "b", "c"}, empty values kept ("a/" -> {"a", ""}).
std::vector<std::string> split_alternatives(const std::string& values);

/// The specs a method entry stands for, in order (see the top of this file). An entry without
/// options comes back as given. Throws InvalidArgument on an option not written name=value.
std::vector<std::string> expand_alternatives(const std::string& method);

/// A directory name for a cell, "<model>_<method>_<ratio>x", the spec's punctuation
/// (: = , / and space) made '-': "dlrm_hash-tables-per_field-shared_2x".
std::string cell_name(const Cell& cell);

}  // namespace embcomp::cli
