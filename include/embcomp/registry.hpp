// The method registry: every method under a short key with its declared options, built from a
// factory string such as "qr:op=mul". Checkpoints are loaded through it too.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/table.hpp"

namespace embcomp {

struct MethodInfo {
  std::string key;
  std::string summary;
  std::vector<OptionInfo> options;
  std::function<std::unique_ptr<EmbeddingTable>(const TableArgs&, const Options&)> make;
  /// The key of the serving form its freeze() returns (serving_forms()); empty when the
  /// serving form is a frozen copy of the table itself.
  std::string serving_form;
  /// Whether it reads TableArgs::counts (training-split id counts) when they are given: the
  /// command line counts the training split only for such methods.
  bool uses_counts = false;
  /// Whether its trainable state holds the whole uncompressed table at every stage (dpq's
  /// queries, deeplight's dense table): loading refuses a header whose table is far larger
  /// than the checkpoint's bytes before building it (its construction works on every row).
  bool state_holds_full_table = false;
};

/// Describes a method class that has kKey, kSummary and option_info(), kServingForm when its
/// freeze() returns a serving form of its own, kUsesCounts when it reads TableArgs::counts, and
/// kStateHoldsFullTable when its trainable state is the whole table at every stage.
template <class Method>
MethodInfo describe() {
  std::string serving_form;
  if constexpr (requires { Method::kServingForm; }) serving_form = Method::kServingForm;
  bool uses_counts = false;
  if constexpr (requires { Method::kUsesCounts; }) uses_counts = Method::kUsesCounts;
  bool full_state = false;
  if constexpr (requires { Method::kStateHoldsFullTable; }) full_state = Method::kStateHoldsFullTable;
  return {Method::kKey, Method::kSummary, Method::option_info(),
          [](const TableArgs& args, const Options& options) -> std::unique_ptr<EmbeddingTable> {
            return std::make_unique<Method>(args, options);
          },
          serving_form, uses_counts, full_state};
}

/// Every registered method, in the order of the docs table.
const std::vector<MethodInfo>& methods();

/// The serving forms a method's freeze() may return (serving/): built only by load_table from
/// a frozen checkpoint, never by make_table.
const std::vector<MethodInfo>& serving_forms();

/// The method registered under `key`; throws InvalidArgument listing the known keys.
const MethodInfo& method_info(std::string_view key);

/// Builds a table from a factory string "key[:name=value,...]". Throws InvalidArgument for an
/// unknown key or option, InfeasibleBudget when the method cannot fit args.budget.
std::unique_ptr<EmbeddingTable> make_table(std::string_view spec, const TableArgs& args);

/// The table of a frozen checkpoint's spec: a serving form (empty, for load_state to fill) or,
/// for a method without its own form, make_table(spec, args).
std::unique_ptr<EmbeddingTable> make_frozen_table(std::string_view spec, const TableArgs& args);

/// Reads a checkpoint written by EmbeddingTable::save. A truncated, damaged, foreign or
/// newer-format file throws CheckpointError; nothing is left half-built.
std::unique_ptr<EmbeddingTable> load_table(std::istream& in);
std::unique_ptr<EmbeddingTable> load_table(const std::string& path);

}  // namespace embcomp
