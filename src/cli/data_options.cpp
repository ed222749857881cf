#include "data_options.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <vector>

#include "embcomp/core/options.hpp"
#include "embcomp/data/schemas.hpp"

namespace embcomp::cli {

namespace {

std::vector<std::string> split_on(const std::string& text, char separator) {
  std::vector<std::string> pieces;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    pieces.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return pieces;
    start = end + 1;
  }
}

template <class Number>
Number parse_number(const std::string& text, const std::string& what) {
  Number value{};
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc{} || ptr != end) {
    throw InvalidArgument(what + ": '" + text + "' is not a number");
  }
  return value;
}

/// "A-B+C" -> [A..B, C] (column lists of a schema format).
std::vector<Index> parse_columns(const std::string& text, const std::string& what) {
  std::vector<Index> columns;
  for (const std::string& piece : split_on(text, '+')) {
    const std::size_t dash = piece.find('-');
    const Index first = parse_number<Index>(piece.substr(0, dash), what);
    const Index last =
        dash == std::string::npos ? first : parse_number<Index>(piece.substr(dash + 1), what);
    if (last < first) throw InvalidArgument(what + ": range '" + piece + "' is empty");
    for (Index c = first; c <= last; ++c) columns.push_back(c);
  }
  return columns;
}

char parse_delimiter(const std::string& name) {
  if (name == "tab") return '\t';
  if (name == "comma") return ',';
  if (name == "semicolon") return ';';
  if (name == "pipe") return '|';
  if (name.size() == 1) return name[0];
  throw InvalidArgument("format: sep must be tab, comma, semicolon, pipe or one character, not '" +
                        name + "'");
}

HeaderMode parse_header(const std::string& name) {
  if (name == "none") return HeaderMode::none;
  if (name == "present") return HeaderMode::present;
  if (name == "detect") return HeaderMode::detect;
  throw InvalidArgument("format: header must be none, present or detect, not '" + name + "'");
}

TextFormat parse_schema_format(const std::string& body) {
  TextFormat format;
  format.name = "schema";
  for (const auto& [key, value] : parse_option_pairs(body, "format")) {
    if (key == "cols") format.num_columns = parse_number<Index>(value, "format cols");
    else if (key == "label") format.label_column = value == "none" ? -1 : parse_number<Index>(value, "format label");
    else if (key == "dense") format.dense_columns = parse_columns(value, "format dense");
    else if (key == "cat") format.categorical_columns = parse_columns(value, "format cat");
    else if (key == "sep") format.delimiter = parse_delimiter(value);
    else if (key == "header") format.header = parse_header(value);
    else throw InvalidArgument("format: unknown key '" + key + "' (cols, label, dense, cat, sep, header)");
  }
  format.validate();
  return format;
}

/// "NAME[:ARGS]" -> {NAME, ARGS}.
std::pair<std::string, std::string> split_kind(const std::string& spec) {
  const std::size_t colon = spec.find(':');
  if (colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

std::pair<double, double> two_numbers(const std::string& args, const std::string& what) {
  const auto pieces = split_on(args, ',');
  if (pieces.size() != 2) throw InvalidArgument(what + " takes two numbers, e.g. " + what + ":0.8,0.1");
  return {parse_number<double>(pieces[0], what), parse_number<double>(pieces[1], what)};
}

std::vector<std::string> input_files(const DataOptions& o) {
  if (!o.valid_file.empty() && o.test_file.empty()) {
    throw InvalidArgument("--valid needs --test too (with --train and --test only, validation "
                          "is the last 10% of the train file)");
  }
  std::vector<std::string> files{o.train_file};
  if (!o.valid_file.empty()) files.push_back(o.valid_file);
  if (!o.test_file.empty()) files.push_back(o.test_file);
  return files;
}

/// The split of a cache by its parts: three (train, validation, test), two (train with its
/// last 10% as validation, test) or one (--split).
Split split_of(const CacheMeta& meta, const DataOptions& o) {
  if (meta.parts.size() == 3) return split_by_files(meta);
  if (meta.parts.size() == 2) {
    const auto train_rows = static_cast<Index>(meta.parts[0].rows);
    const Index validation_rows = std::max<Index>(1, train_rows / 10);
    Split split;
    split.train = RowSelection::of_range(0, train_rows - validation_rows);
    split.validation = RowSelection::of_range(train_rows - validation_rows, train_rows);
    split.test = RowSelection::of_range(train_rows, static_cast<Index>(meta.rows));
    return split;
  }
  if (meta.parts.size() == 1) return parse_split(o.split, static_cast<Index>(meta.rows), o.data_seed);
  throw InvalidArgument("the cache has " + std::to_string(meta.parts.size()) +
                        " parts; 1, 2 or 3 were expected");
}

/// Throws unless the cache in `directory` was prepared from `files` with these options.
void check_cache_inputs(const CacheMeta& meta, const std::vector<std::string>& files,
                        const DataOptions& o, const std::string& directory) {
  bool same = meta.parts.size() == files.size() && meta.min_count == o.min_count &&
              meta.id_order == parse_id_order(o.id_order);
  for (std::size_t i = 0; same && i < files.size(); ++i) same = meta.parts[i].source == files[i];
  if (!same) {
    throw InvalidArgument("the cache " + directory +
                          " was prepared from other inputs, another --min-count or another "
                          "--id-order; remove it or "
                          "give another --cache");
  }
}

json describe_cache(const CachedDataset& data, const std::string& directory) {
  json parts = json::array();
  for (const CachePart& part : data.cache().meta().parts) {
    parts.push_back({{"source", part.source}, {"rows", part.rows}});
  }
  return {{"source", "cache"},
          {"cache", directory},
          {"parts", parts},
          {"fields", data.cache().meta().num_fields()},
          {"id_order", id_order_name(data.cache().meta().id_order)},
          {"dense", data.num_dense()},
          {"train_rows", data.rows(SplitPart::train)},
          {"validation_rows", data.rows(SplitPart::validation)},
          {"test_rows", data.rows(SplitPart::test)}};
}

Data open_synthetic(const DataOptions& o) {
  SyntheticConfig config;
  config.cardinalities = scaled_cardinalities(criteo_kaggle_schema(), o.scale);
  config.train_rows = o.train_rows;
  config.validation_rows = o.validation_rows;
  config.test_rows = o.test_rows;
  config.seed = o.data_seed;
  config.id_order = parse_id_order(o.id_order);
  config.drift = o.drift;
  auto source = std::make_unique<SyntheticCtr>(config);
  Data data;
  data.name = "synthetic";
  data.bayes = source->bayes_metrics(SplitPart::test);
  const Schema schema = source->schema();
  data.description = {{"source", "synthetic"},
                      {"name", data.name},
                      {"scale", o.scale},
                      {"seed", o.data_seed},
                      {"fields", schema.num_fields()},
                      {"ids", schema.total_rows()},
                      {"train_rows", o.train_rows},
                      {"validation_rows", o.validation_rows},
                      {"test_rows", o.test_rows},
                      {"id_order", o.id_order},
                      {"drift", o.drift},
                      {"bayes_test_auc", data.bayes->auc},
                      {"bayes_test_logloss", data.bayes->logloss}};
  data.source = std::move(source);
  return data;
}

std::filesystem::path temporary_directory() {
  return std::filesystem::temp_directory_path() /
         ("embcomp-cache-" + std::to_string(static_cast<long long>(::getpid())));
}

}  // namespace

void add_data_options(CLI::App* command, DataOptions& o, bool with_synthetic) {
  if (with_synthetic) {
    command->add_option("--scale", o.scale, "synthetic data: cardinalities as a fraction of Criteo's")
        ->capture_default_str()->check(CLI::PositiveNumber)->group("Synthetic data");
    command->add_option("--train-rows", o.train_rows, "synthetic training rows")
        ->capture_default_str()->check(CLI::PositiveNumber)->group("Synthetic data");
    command->add_option("--val-rows", o.validation_rows, "synthetic validation rows")
        ->capture_default_str()->check(CLI::PositiveNumber)->group("Synthetic data");
    command->add_option("--test-rows", o.test_rows, "synthetic test rows")
        ->capture_default_str()->check(CLI::PositiveNumber)->group("Synthetic data");
    command->add_option("--drift", o.drift,
                        "synthetic popularity slides by drift x n_f ranks over the training stream "
                        "(0.01: each field's top 1% replaced once)")
        ->capture_default_str()->check(CLI::Range(0.0, 1e6))->group("Synthetic data");
  }
  command->add_option("--id-order", o.id_order,
                      "how ids are numbered: ranked (id 0 the most frequent) | hashed (synthetic: a "
                      "seeded permutation; files: by value hash; like raw ids) | first_seen (files: "
                      "in order of first appearance)")
      ->capture_default_str()->check(CLI::IsMember({"ranked", "hashed", "first_seen"}))
      ->group("Data");
  command->add_option("--data-seed", o.data_seed, "seed of the synthetic data and of split permutations")
      ->capture_default_str()->group("Data");
  command->add_option("--train", o.train_file, "training data file (instead of synthetic data)")
      ->check(CLI::ExistingFile)->group("Data files");
  command->add_option("--valid", o.valid_file, "validation data file")
      ->check(CLI::ExistingFile)->group("Data files");
  command->add_option("--test", o.test_file, "test data file")
      ->check(CLI::ExistingFile)->group("Data files");
  command->add_option("--format", o.format,
                      "criteo | avazu | schema:cols=N,label=C,dense=A-B,cat=A-B[,sep=..][,header=..]")
      ->capture_default_str()->group("Data files");
  command->add_option("--cache", o.cache_dir,
                      "binary cache directory: reused when prepared from the same files; alone, "
                      "the data (see `embcomp prep`)")
      ->group("Data files");
  command->add_option("--min-count", o.min_count, "values seen fewer times share one OOV id")
      ->capture_default_str()->check(CLI::PositiveNumber)->group("Data files");
  command->add_flag("--strict", o.strict, "the first malformed row is an error")->group("Data files");
  command->add_option("--split", o.split,
                      "split of one file: reference[:PARTS] | random:T,V | rows:T,V | tail:H")
      ->capture_default_str()->group("Data files");
}

TextFormat parse_format(const std::string& spec) {
  const auto [kind, args] = split_kind(spec);
  if (kind == "criteo" && args.empty()) return criteo_format();
  if (kind == "avazu" && args.empty()) return avazu_format();
  if (kind == "schema") return parse_schema_format(args);
  throw InvalidArgument("unknown --format '" + spec + "': criteo, avazu or schema:...");
}

Split parse_split(const std::string& spec, Index rows, std::uint64_t seed) {
  const auto [kind, args] = split_kind(spec);
  if (kind == "reference") {
    const Index parts = args.empty() ? 7 : parse_number<Index>(args, "split reference");
    if (parts < 3 || rows < 2 * parts) {
      throw InvalidArgument("split reference:" + std::to_string(parts) + " needs at least 3 parts and 2 rows per part (" +
                            std::to_string(rows) + " rows)");
    }
    return reference_split(rows, parts, seed);
  }
  if (kind == "random") {
    const auto [train, validation] = two_numbers(args, "random");
    if (train <= 0 || validation <= 0 || train + validation >= 1) {
      throw InvalidArgument("split random:T,V needs T > 0, V > 0 and T + V < 1");
    }
    return random_split(rows, train, validation, seed);
  }
  if (kind == "rows") {
    const auto [train_d, validation_d] = two_numbers(args, "rows");
    const auto train = static_cast<Index>(train_d);
    const auto validation = static_cast<Index>(validation_d);
    if (train < 1 || validation < 1 || train + validation >= rows) {
      throw InvalidArgument("split rows:" + std::to_string(train) + "," + std::to_string(validation) +
                            " needs both >= 1 and leaves no test rows of " + std::to_string(rows));
    }
    const Index parts[] = {train, validation, rows - train - validation};
    return split_by_parts(parts);
  }
  if (kind == "tail") {
    const Index held_out = parse_number<Index>(args, "split tail");
    if (held_out < 2 || held_out >= rows) {
      throw InvalidArgument("split tail:H needs 2 <= H < " + std::to_string(rows));
    }
    return tail_split(rows, held_out, seed);
  }
  throw InvalidArgument("unknown --split '" + spec + "': reference[:PARTS], random:T,V, rows:T,V or tail:H");
}

std::shared_ptr<const IdCounts> Data::training_counts() const {
  const std::lock_guard<std::mutex> lock(*counting);
  if (!counted) counted = std::make_shared<const IdCounts>(count_ids(*source, SplitPart::train));
  return counted;
}

Data::~Data() {
  if (temporary_cache.empty()) return;
  source.reset();  // unmaps the files before they are removed
  std::error_code ignored;
  std::filesystem::remove_all(temporary_cache, ignored);
}

PrepResult prepare_files(const DataOptions& o, const std::string& directory) {
  const std::vector<std::string> files = input_files(o);
  PrepOptions prep;
  prep.format = parse_format(o.format);
  prep.read.strict = o.strict;
  prep.min_count = o.min_count;
  prep.id_order = parse_id_order(o.id_order);
  std::printf("prep: %zu file(s), format %s, into %s\n", files.size(), o.format.c_str(),
              directory.c_str());
  std::fflush(stdout);
  PrepResult result = prepare_cache(files, directory, prep);
  std::printf("prep: %s\n", result.report.summary().c_str());
  std::printf("prep: %llu rows, %lld fields, %.1f s counting, %.1f s encoding\n",
              static_cast<unsigned long long>(result.meta.rows),
              static_cast<long long>(result.meta.num_fields()), result.seconds_count,
              result.seconds_encode);
  std::fflush(stdout);
  return result;
}

Data open_data(const DataOptions& o) {
  if (o.synthetic()) return open_synthetic(o);

  Data data;
  std::string directory = o.cache_dir;
  if (o.from_files()) {
    const std::vector<std::string> files = input_files(o);
    if (directory.empty()) {
      data.temporary_cache = temporary_directory();
      directory = data.temporary_cache.string();
    }
    if (std::filesystem::exists(std::filesystem::path(directory) / "meta.bin")) {
      check_cache_inputs(CacheReader(directory).meta(), files, o, directory);
      std::printf("data: reusing the cache %s\n", directory.c_str());
    } else {
      prepare_files(o, directory);
    }
  }
  // Every column's checksum before training (XXH64 reads at memory speed): a damaged byte in a
  // cache is an error here, not a silently different run.
  const CacheReader cache(directory);
  cache.verify_checksums();
  const CacheMeta meta = cache.meta();
  auto source = std::make_unique<CachedDataset>(directory, split_of(meta, o));
  data.name = o.from_files() ? o.train_file : directory;
  data.description = describe_cache(*source, directory);
  data.description["name"] = data.name;
  data.source = std::move(source);
  return data;
}

}  // namespace embcomp::cli
