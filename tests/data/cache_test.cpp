#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "embcomp/data/prep.hpp"
#include "embcomp/data/source.hpp"
#include "temp_files.hpp"

using namespace embcomp;
using embcomp::test::TempDir;

TEST_CASE("vocabulary ids follow frequency, then first-seen order", "[data][cache]") {
  FieldVocabulary vocab;
  for (const char* v : {"b", "a", "c", "a", "", "c", "a", "d"}) vocab.count(v);
  vocab.finalize();
  CHECK_FALSE(vocab.has_oov());
  CHECK(vocab.size() == 5);
  CHECK(vocab.id_of("a") == 0);  // 3 times
  CHECK(vocab.id_of("c") == 1);  // 2 times
  CHECK(vocab.id_of("b") == 2);  // once, seen first
  CHECK(vocab.id_of("") == 3);   // the empty value is a value
  CHECK(vocab.id_of("d") == 4);
  CHECK(vocab.id_of("never") == -1);
  CHECK(vocab.counts() == std::vector<std::uint64_t>{3, 2, 1, 1, 1});
}

TEST_CASE("min-count merges rare values into the OOV id 0", "[data][cache]") {
  FieldVocabulary vocab;
  for (const char* v : {"rare1", "x", "y", "x", "rare2", "y", "x"}) vocab.count(v);
  vocab.finalize(2);
  CHECK(vocab.has_oov());
  CHECK(vocab.size() == 3);
  CHECK(vocab.id_of("x") == 1);
  CHECK(vocab.id_of("y") == 2);
  CHECK(vocab.id_of("rare1") == 0);
  CHECK(vocab.id_of("rare2") == 0);
  CHECK(vocab.id_of("unseen") == 0);
  CHECK(vocab.counts() == std::vector<std::uint64_t>{2, 3, 2});
  CHECK(vocab.distinct_values() == 4);
}

TEST_CASE("vocabulary ids in first-seen and hashed order", "[data][cache]") {
  const std::vector<std::string> values = {"c", "a", "b", "b", "a", "b", "d"};
  const auto finalized = [&](IdOrder order, std::int64_t min_count) {
    FieldVocabulary vocab;
    for (const std::string& v : values) vocab.count(v);
    vocab.finalize(min_count, order);
    return vocab;
  };
  const FieldVocabulary first_seen = finalized(IdOrder::first_seen, 1);
  CHECK(first_seen.id_of("c") == 0);
  CHECK(first_seen.id_of("a") == 1);
  CHECK(first_seen.id_of("b") == 2);
  CHECK(first_seen.id_of("d") == 3);
  CHECK(first_seen.counts() == std::vector<std::uint64_t>{1, 2, 3, 1});
  // With an OOV id: the rare values share 0, the others keep their order after it.
  const FieldVocabulary rare = finalized(IdOrder::first_seen, 2);
  CHECK(rare.id_of("c") == 0);
  CHECK(rare.id_of("d") == 0);
  CHECK(rare.id_of("a") == 1);
  CHECK(rare.id_of("b") == 2);
  CHECK(rare.counts() == std::vector<std::uint64_t>{2, 2, 3});
  // Hashed: ascending value hashes, whatever the counts.
  const FieldVocabulary hashed = finalized(IdOrder::hashed, 1);
  std::vector<std::string> by_key = {"a", "b", "c", "d"};
  std::sort(by_key.begin(), by_key.end(), [](const std::string& x, const std::string& y) {
    return FieldVocabulary::key_of(x) < FieldVocabulary::key_of(y);
  });
  for (std::size_t id = 0; id < by_key.size(); ++id) {
    INFO(by_key[id]);
    CHECK(hashed.id_of(by_key[id]) == static_cast<Index>(id));
  }
  CHECK(parse_id_order("first_seen") == IdOrder::first_seen);
  CHECK_THROWS_WITH(parse_id_order("shuffled"), Catch::Contains("ranked, hashed or first_seen"));
}

namespace {

/// Generic format: label, two dense, three categorical columns, comma-separated.
TextFormat small_format() {
  TextFormat format;
  format.delimiter = ',';
  format.num_columns = 6;
  format.label_column = 0;
  format.dense_columns = {1, 2};
  format.categorical_columns = {3, 4, 5};
  return format;
}

struct Expected {
  float label;
  std::vector<float> dense;
  std::vector<std::string> values;
};

/// Writes `rows` rows with a deterministic pattern; returns what each good row holds.
std::vector<Expected> write_rows(const TempDir& dir, const std::string& name, int rows, int offset,
                                 std::string& path) {
  std::ostringstream content;
  std::vector<Expected> expected;
  for (int r = offset; r < offset + rows; ++r) {
    std::ostringstream a, b, c;
    a << 'a' << r % 7;
    if (r % 3 != 0) b << 'b' << r % 50;
    c << 'c' << r % 2;
    const int label = (r * 7) % 3 == 0 ? 1 : 0;
    content << label << ',' << r % 11 << ',' << (r % 4 ? "-1" : "") << ',' << a.str() << ','
            << b.str() << ',' << c.str() << '\n';
    expected.push_back({static_cast<float>(label), {static_cast<float>(std::log1p(r % 11)), 0.0f},
                        {a.str(), b.str(), c.str()}});
    if (r % 10 == 5) content << "1,oops,0,a,b,c\n";  // malformed: skipped in both passes
  }
  path = dir.write(name, content.str());
  return expected;
}

std::vector<Expected> concat(std::vector<Expected> a, const std::vector<Expected>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("prep writes a cache that reads back the parsed rows", "[data][cache]") {
  TempDir dir("cache_roundtrip");
  std::string first, second;
  const auto expected =
      concat(write_rows(dir, "part0.csv", 120, 0, first), write_rows(dir, "part1.csv", 35, 120, second));
  PrepOptions options;
  options.format = small_format();
  const std::vector<std::string> inputs{first, second};
  const PrepResult result = prepare_cache(inputs, dir.path("cache"), options);
  CHECK(result.report.rows == 155);
  CHECK(result.report.malformed == 15);
  CHECK(result.report.examples[0].line == 7);

  const Vocabularies vocab = build_vocabularies(inputs, options);
  CacheReader cache(dir.path("cache"));
  cache.verify_checksums();
  REQUIRE(cache.rows() == 155);
  CHECK(cache.meta().num_dense == 2);
  CHECK(cache.meta().cardinalities() == std::vector<Index>{7, 51, 2});
  REQUIRE(cache.meta().parts.size() == 2);
  CHECK(cache.meta().parts[0].rows == 120);
  CHECK(cache.meta().parts[1].rows == 35);

  Batch batch;
  cache.read_range(0, 155, batch);
  REQUIRE(batch.size == 155);
  for (std::size_t r = 0; r < expected.size(); ++r) {
    INFO("row " << r);
    CHECK(batch.labels[r] == expected[r].label);
    CHECK(batch.dense[2 * r] == Approx(expected[r].dense[0]));
    CHECK(batch.dense[2 * r + 1] == expected[r].dense[1]);
    for (std::size_t f = 0; f < 3; ++f) CHECK(batch.ids[3 * r + f] == vocab.fields[f].id_of(expected[r].values[f]));
  }
  for (Index f = 0; f < 3; ++f) {
    const auto counts = cache.counts(f);
    CHECK(std::vector<std::uint64_t>(counts.begin(), counts.end()) == vocab.fields[static_cast<std::size_t>(f)].counts());
  }
  // A range in the middle and a row list read the same rows.
  Batch middle, listed;
  cache.read_range(100, 30, middle);
  std::vector<Index> rows(30);
  for (Index i = 0; i < 30; ++i) rows[static_cast<std::size_t>(i)] = 100 + i;
  cache.read_rows(rows, listed);
  CHECK(middle.ids == listed.ids);
  CHECK(middle.ids == std::vector<Index>(batch.ids.begin() + 300, batch.ids.begin() + 390));
  CHECK_THROWS_AS(cache.read_range(150, 6, middle), InvalidArgument);

  CHECK_THROWS_AS(split_by_files(cache.meta()), InvalidArgument);  // two files, not three
  // The same cache through a dataset with a split by parts.
  const std::vector<Index> parts{100, 20, 35};
  CachedDataset dataset(dir.path("cache"), split_by_parts(parts));
  CHECK(dataset.rows(SplitPart::test) == 35);
  dataset.read(SplitPart::test, 30, 100, listed);  // clipped to the 5 last rows
  CHECK(listed.size == 5);
  CHECK(listed.labels == std::vector<float>(batch.labels.end() - 5, batch.labels.end()));

  // Per-split id counts: train + validation + test add up to the cache's counts.
  std::vector<std::uint64_t> summed(static_cast<std::size_t>(cache.meta().fields[1].cardinality), 0);
  for (const SplitPart part : {SplitPart::train, SplitPart::validation, SplitPart::test}) {
    const auto counts = count_ids(dataset, part, 16);
    REQUIRE(counts.size() == 3);
    std::uint64_t total = 0;
    for (std::size_t id = 0; id < counts[1].size(); ++id) summed[id] += counts[1][id], total += counts[1][id];
    CHECK(total == static_cast<std::uint64_t>(dataset.rows(part)));
  }
  const auto all_counts = cache.counts(1);
  CHECK(summed == std::vector<std::uint64_t>(all_counts.begin(), all_counts.end()));
}

TEST_CASE("prep with min-count maps rare values to the OOV id", "[data][cache]") {
  TempDir dir("cache_oov");
  std::string path;
  write_rows(dir, "rows.csv", 100, 0, path);
  PrepOptions options;
  options.format = small_format();
  options.min_count = 3;
  const std::vector<std::string> inputs{path};
  prepare_cache(inputs, dir.path("cache"), options);
  CacheReader cache(dir.path("cache"));
  CHECK(cache.meta().fields[1].has_oov);
  // Field 1 ("b" + r % 50 for r % 3 != 0, else empty): values seen < 3 times share id 0.
  const auto counts = cache.counts(1);
  std::uint64_t total = 0;
  for (std::uint64_t c : counts) total += c;
  CHECK(total == 100);
  CHECK(counts[0] > 0);
  for (std::size_t id = 1; id < counts.size(); ++id) CHECK(counts[id] >= 3);
  Batch batch;
  cache.read_range(0, 100, batch);
  std::vector<std::uint64_t> seen(counts.size(), 0);
  for (Index r = 0; r < 100; ++r) ++seen[static_cast<std::size_t>(batch.ids[static_cast<std::size_t>(3 * r + 1)])];
  CHECK(seen == std::vector<std::uint64_t>(counts.begin(), counts.end()));
}

TEST_CASE("prep numbers ids in the order asked for and records it in the cache",
          "[data][cache]") {
  TempDir dir("cache_id_order");
  std::string path;
  write_rows(dir, "rows.csv", 100, 0, path);
  const std::vector<std::string> inputs{path};
  std::vector<std::vector<std::uint64_t>> counts;
  for (const IdOrder order : {IdOrder::ranked, IdOrder::first_seen, IdOrder::hashed}) {
    INFO(id_order_name(order));
    PrepOptions options;
    options.format = small_format();
    options.id_order = order;
    const std::string cache_dir = dir.path(std::string("cache_") + id_order_name(order));
    prepare_cache(inputs, cache_dir, options);
    CacheReader cache(cache_dir);
    CHECK(cache.meta().id_order == order);
    const auto field_counts = cache.counts(1);
    counts.emplace_back(field_counts.begin(), field_counts.end());
    Batch batch;
    cache.read_range(0, 100, batch);
    if (order == IdOrder::first_seen) {
      // Ids appear in increasing order: each new value takes the next id.
      Index next = 0;
      for (Index r = 0; r < 100; ++r) {
        const Index id = batch.ids[static_cast<std::size_t>(3 * r + 1)];
        CHECK(id <= next);
        if (id == next) ++next;
      }
    }
  }
  // The same values, numbered three ways: the same multiset of counts, not the same order.
  auto sorted = [](std::vector<std::uint64_t> c) {
    std::sort(c.begin(), c.end());
    return c;
  };
  CHECK(sorted(counts[1]) == sorted(counts[0]));
  CHECK(sorted(counts[2]) == sorted(counts[0]));
  CHECK(std::is_sorted(counts[0].rbegin(), counts[0].rend()));  // ranked: descending
  CHECK_FALSE(std::is_sorted(counts[1].rbegin(), counts[1].rend()));
  CHECK(counts[1] != counts[2]);
}

TEST_CASE("a truncated, damaged or foreign cache is a clear error", "[data][cache]") {
  TempDir dir("cache_errors");
  std::string path;
  write_rows(dir, "rows.csv", 50, 0, path);
  PrepOptions options;
  options.format = small_format();
  const std::vector<std::string> inputs{path};
  const std::string cache = dir.path("cache");
  prepare_cache(inputs, cache, options);
  REQUIRE_NOTHROW(CacheReader(cache));

  auto error_of = [](const std::string& directory) -> std::string {
    try {
      CacheReader reader(directory);
      reader.verify_checksums();
    } catch (const DataError& e) {
      return e.what();
    }
    return "no error";
  };
  SECTION("missing") { CHECK(error_of(dir.path("nowhere")).find("meta.bin' is missing") != std::string::npos); }
  SECTION("truncated column") {
    std::filesystem::resize_file(cache + "/ids_1.i32", 40);
    const std::string message = error_of(cache);
    CHECK(message.find("ids_1.i32' is truncated") != std::string::npos);
    CHECK(message.find("40 bytes, expected 200") != std::string::npos);
  }
  SECTION("truncated metadata") {
    std::filesystem::resize_file(cache + "/meta.bin", std::filesystem::file_size(cache + "/meta.bin") - 12);
    CHECK(error_of(cache).find("unreadable") != std::string::npos);
  }
  SECTION("foreign") {
    dir.write("cache/meta.bin", "this is not an embcomp cache at all, just some text");
    CHECK(error_of(cache).find("foreign") != std::string::npos);
  }
  SECTION("damaged column bytes") {
    std::fstream file(cache + "/labels.f32", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);
    file.put('\x7f');
    file.close();
    CHECK(error_of(cache).find("checksum does not match") != std::string::npos);
  }
}

TEST_CASE("separate train, validation and test files become a split by files", "[data][cache]") {
  TempDir dir("cache_files");
  std::string train, validation, test;
  write_rows(dir, "train.csv", 60, 0, train);
  write_rows(dir, "validation.csv", 20, 60, validation);
  const auto test_rows = write_rows(dir, "test.csv", 15, 80, test);
  PrepOptions options;
  options.format = small_format();
  const std::vector<std::string> inputs{train, validation, test};
  prepare_cache(inputs, dir.path("cache"), options);
  const CacheReader cache(dir.path("cache"));
  REQUIRE(cache.meta().parts.size() == 3);
  CHECK(cache.meta().parts[2].source == test);
  CachedDataset dataset(dir.path("cache"), split_by_files(cache.meta()));
  CHECK(dataset.rows(SplitPart::train) == 60);
  CHECK(dataset.rows(SplitPart::validation) == 20);
  CHECK(dataset.rows(SplitPart::test) == 15);
  Batch batch;
  dataset.read(SplitPart::test, 0, 15, batch);
  for (std::size_t r = 0; r < test_rows.size(); ++r) CHECK(batch.labels[r] == test_rows[r].label);

  // Strict mode stops preprocessing at the first malformed row (line 7 of train.csv).
  options.read.strict = true;
  CHECK_THROWS_WITH(prepare_cache(inputs, dir.path("strict"), options),
                    Catch::Contains("train.csv:7: dense value not numeric"));
}
