// Where `train`, `sweep` and `prep` get their data: the synthetic generator (the default), text
// files prepared into a binary cache, or a cache prepared before.
//
//   synthetic:  --scale S --train-rows N --val-rows N --test-rows N --data-seed K
//               [--id-order ranked|hashed] [--drift D]
//   files:      --train FILE [--valid FILE --test FILE] --format criteo|avazu|schema:...
//               [--cache DIR] [--min-count N] [--id-order ranked|hashed|first_seen] [--strict]
//               [--split SPEC]
//   a cache:    --cache DIR (prepared by `embcomp prep`) [--split SPEC]
//
// Splits: three files (or a cache of three parts) are train, validation and test. One file (one
// part) is split by --split:
//   reference[:PARTS]   the reference protocol: PARTS (7) equal parts in row order, the first
//                       PARTS-1 train (permuted with --data-seed), the last halved into test
//                       then validation;
//   random:T,V          a seeded random split with fractions T (train) and V (validation);
//   rows:T,V            the first T rows train, the next V validation, the rest test;
//   tail:H              the last H rows halved into test then validation (Avazu's protocol).
// Two files (--train and --test): validation is the last 10% of the train file.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cli.hpp"
#include "embcomp/data/prep.hpp"
#include "embcomp/data/source.hpp"
#include "embcomp/data/synthetic.hpp"
#include "embcomp/table.hpp"

namespace embcomp::cli {

struct DataOptions {
  // The synthetic generator.
  double scale = 0.01;  ///< cardinalities as a fraction of Criteo Kaggle's
  Index train_rows = 1'000'000;
  Index validation_rows = 100'000;
  Index test_rows = 100'000;
  std::uint64_t data_seed = 1;
  std::string id_order = "ranked";  ///< ranked | hashed | first_seen (files only): id_order.hpp
  double drift = 0.0;               ///< SyntheticConfig::drift
  // Files and caches.
  std::string train_file, valid_file, test_file;
  std::string format = "criteo";
  std::string cache_dir;
  std::int64_t min_count = 1;
  bool strict = false;
  std::string split = "reference";

  bool from_files() const { return !train_file.empty(); }
  bool from_cache_only() const { return train_file.empty() && !cache_dir.empty(); }
  bool synthetic() const { return !from_files() && !from_cache_only(); }
};

/// Adds the options above to `command`. `with_synthetic` = false leaves out the generator's
/// options (prep reads files only).
void add_data_options(CLI::App* command, DataOptions& options, bool with_synthetic = true);

/// The text format named by `spec`: "criteo", "avazu", or
/// "schema:cols=N,label=C,dense=A-B,cat=A-B[,sep=tab|comma|semicolon|pipe|X][,header=none|present|detect]"
/// (column numbers from 0; `dense` and `cat` take ranges and comma-free lists such as 1-3+7).
/// Throws InvalidArgument naming what is wrong.
TextFormat parse_format(const std::string& spec);

/// The split of a one-part dataset of `rows` rows described by `spec` (see above).
Split parse_split(const std::string& spec, Index rows, std::uint64_t seed);

/// Opened data: the source a trainer reads and what describes it in summaries.
struct Data {
  std::unique_ptr<BatchSource> source;
  std::string name;                   ///< "synthetic" or the train file / cache
  json description;                   ///< for summary.json
  std::optional<BayesMetrics> bayes;  ///< of the test part, for synthetic data
  /// A cache made only for this run (no --cache given): removed with the Data.
  std::filesystem::path temporary_cache;

  /// Occurrences of every id in the training split (for frequency-aware methods), counted on
  /// first use and kept: one pass over the training rows. Safe to call from several threads
  /// (the sweep's side-by-side runs).
  std::shared_ptr<const IdCounts> training_counts() const;

  Data() = default;
  mutable std::shared_ptr<const IdCounts> counted;  ///< training_counts(), once counted
  std::unique_ptr<std::mutex> counting = std::make_unique<std::mutex>();  ///< guards `counted`

  Data(Data&&) = default;
  Data& operator=(Data&&) = default;
  ~Data();
};

/// Opens the data `options` describe: generates nothing up front for synthetic data; prepares
/// files into the cache (or a temporary one), or reuses a cache prepared from the same inputs.
/// Prints what it does to stdout.
Data open_data(const DataOptions& options);

/// Prepares the files of `options` into `directory` and prints the parse report.
PrepResult prepare_files(const DataOptions& options, const std::string& directory);

}  // namespace embcomp::cli
