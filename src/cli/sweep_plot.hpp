// The plot of `embcomp sweep`: per model, test AUC against the real compression ratio, one line
// per method on a log-scale ratio axis, with the full table's and the Bayes-optimal AUC as
// horizontal lines. Written into --out as
//   test_auc_<model>.dat   per method "# <method>", then "<ratio> <test AUC>" lines; blocks
//                          apart by two blank lines (gnuplot's `index`)
//   test_auc_<model>.gp    the gnuplot script; it names its files relative to --out
//   test_auc_<model>.png   rendered by gnuplot when it is installed
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"

namespace embcomp::cli {

/// What one model's plot shows, from its ok records.
struct AucPlotData {
  std::vector<std::string> methods;  ///< one data block each, in record order
  std::string dat;                   ///< the .dat file's text
  double max_ratio = 1.0;            ///< the highest real ratio (at least 1)
  std::optional<double> full_auc;    ///< the test AUC of `full`, when it trained
};

/// The plot data of `model` from the sweep's `records`; no methods when none trained.
AucPlotData auc_plot_data(const std::string& model, const json& records);

/// The gnuplot script drawing `plot` from `<base>.dat` into `<base>.png` (file names relative to
/// its working directory); `data` is the dataset's description (its name and Bayes AUC).
/// Every name goes in as a gnuplot string (gnuplot_string).
std::string auc_plot_script(const std::string& base, const std::string& model, const json& data,
                            const AucPlotData& plot);

/// Writes test_auc_<model>.dat/.gp into `out` and renders the PNG with gnuplot when it is
/// installed. Returns the PNG's path, or empty (nothing trained, no gnuplot, gnuplot failed;
/// the last two say so on standard output).
std::string plot_model(const std::filesystem::path& out, const std::string& model, const json& data,
                       const json& records);

}  // namespace embcomp::cli
