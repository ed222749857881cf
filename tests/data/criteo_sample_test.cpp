// The readers and the cache on real rows: the Criteo Kaggle sample in ../shared/data (never
// copied into the repository). Reported as skipped when the folder is absent.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "embcomp/data/prep.hpp"
#include "shared_data.hpp"
#include "temp_files.hpp"

using namespace embcomp;

namespace {
const std::string kCriteoDir = test::shared_data_path("criteo-kaggle/derived");
using test::shared_sample;
}  // namespace

TEST_CASE("criteo kaggle sample parses with the facts of its README", "[data][criteo]") {
  const std::string path = kCriteoDir + "/train_head9999.tsv";
  if (!shared_sample(path)) return;
  ReadOptions options;
  options.strict = true;  // the sample has no malformed row
  DelimitedReader reader(path, criteo_format(), options);
  RawRow row;
  std::int64_t positives = 0, empty_dense = 0, empty_categorical = 0, rows = 0;
  std::vector<std::set<std::string>> distinct(26);
  while (reader.next(row)) {
    if (rows == 0) {
      CHECK(row.label == 0.0f);
      CHECK(row.dense[0] == Approx(std::log(2.0)));     // I1 = 1
      CHECK(row.dense[4] == Approx(std::log(1383.0)));  // I5 = 1382
      CHECK(row.dense[11] == 0.0f);                      // I12 empty
      CHECK(row.categorical[0] == "68fd1e64");
      CHECK(row.categorical[1] == "80e26c9b");
    }
    ++rows;
    positives += row.label > 0.5f;
    for (std::size_t f = 0; f < 26; ++f) {
      empty_categorical += row.categorical[f].empty();
      distinct[f].emplace(row.categorical[f]);
    }
  }
  // Empty dense fields need the raw text: count them in a second read of the fields.
  {
    LineReader lines(path, 1 << 16);
    std::string_view line;
    bool overlong = false;
    std::vector<std::string_view> fields;
    while (lines.next(line, overlong)) {
      split_fields(line, '\t', fields);
      for (std::size_t j = 1; j <= 13; ++j) empty_dense += fields[j].empty();
    }
  }
  CHECK(rows == 9'999);
  CHECK(reader.report().rows == 9'999);
  CHECK(reader.report().malformed == 0);
  CHECK(positives == 2'181);
  CHECK(static_cast<double>(empty_dense) / (9'999.0 * 13) == Approx(0.209).margin(0.0005));
  CHECK(static_cast<double>(empty_categorical) / (9'999.0 * 26) == Approx(0.114).margin(0.0005));
  std::size_t total_distinct = 0, smallest = 1u << 30, largest = 0;
  for (const auto& values : distinct) {
    // The README counts non-empty values; the empty value is one more id of its field.
    const std::size_t n = values.size() - values.count("");
    total_distinct += n;
    smallest = std::min(smallest, n);
    largest = std::max(largest, n);
  }
  CHECK(total_distinct == 43'575);
  CHECK(smallest == 3);
  CHECK(largest == 5'519);
}

TEST_CASE("criteo kaggle sample goes through prep and the cache", "[data][criteo]") {
  const std::string path = kCriteoDir + "/train_head9999.tsv";
  if (!shared_sample(path)) return;
  embcomp::test::TempDir dir("criteo_cache");
  const std::vector<std::string> inputs{path};
  const PrepResult result = prepare_cache(inputs, dir.path("cache"));
  CHECK(result.report.rows == 9'999);
  CacheReader cache(dir.path("cache"));
  cache.verify_checksums();
  CHECK(cache.rows() == 9'999);
  Index ids = 0;
  for (Index n : cache.meta().cardinalities()) ids += n;
  // 43,575 non-empty values plus one "empty" id in each field that has empties.
  CHECK(ids > 43'575);
  CHECK(ids <= 43'575 + 26);
  Batch batch;
  cache.read_range(0, 9'999, batch);
  double positives = 0;
  for (float y : batch.labels) positives += y;
  CHECK(positives == 2'181);
}

TEST_CASE("criteo kaggle unlabeled test rows parse without a label", "[data][criteo]") {
  const std::string path = kCriteoDir + "/test_unlabeled_head100.tsv";
  if (!shared_sample(path)) return;
  ReadOptions options;
  options.strict = true;
  DelimitedReader reader(path, criteo_format(false), options);
  RawRow row;
  std::int64_t rows = 0;
  while (reader.next(row)) {
    ++rows;
    CHECK(row.categorical.size() == 26);
  }
  CHECK(rows == 100);
  CHECK(reader.report().malformed == 0);
  // With a label column expected, every 39-field row is malformed, and counted as such.
  DelimitedReader labelled(path, criteo_format(true));
  while (labelled.next(row)) {
  }
  CHECK(labelled.report().rows == 0);
  CHECK(labelled.report().by_reason[static_cast<int>(MalformedReason::field_count)] == 100);
}
