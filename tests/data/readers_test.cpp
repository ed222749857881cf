#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "embcomp/data/readers.hpp"
#include "temp_files.hpp"

using namespace embcomp;
using embcomp::test::TempDir;

namespace {

std::vector<std::string> read_lines(const std::string& path, std::size_t max_line = 1 << 16,
                                    std::vector<std::int64_t>* overlong_lines = nullptr) {
  LineReader reader(path, max_line);
  std::vector<std::string> lines;
  std::string_view line;
  bool overlong = false;
  while (reader.next(line, overlong)) {
    if (overlong && overlong_lines != nullptr) overlong_lines->push_back(reader.line_number());
    lines.emplace_back(line);
  }
  return lines;
}

/// A Criteo row: label, 13 dense, 26 categoricals, tab-separated.
std::string criteo_row(const std::string& label, const std::string& first_dense = "3",
                       const std::string& first_categorical = "68fd1e64") {
  std::string row = label + "\t" + first_dense;
  for (int j = 1; j < 13; ++j) row.append("\t").append(std::to_string(j));
  row.append("\t").append(first_categorical);
  for (int f = 1; f < 26; ++f) {
    row += '\t';
    if (f % 5 != 0) row.append("a1b2c3d").append(std::to_string(f % 10));
  }
  return row;
}

/// A RawRow with owned categorical values (the reader's views die at its next call).
struct OwnedRow {
  std::int64_t line = 0;
  float label = 0.0f;
  std::vector<float> dense;
  std::vector<std::string> categorical;
};

std::vector<OwnedRow> read_all(DelimitedReader& reader) {
  std::vector<OwnedRow> rows;
  RawRow row;
  while (reader.next(row)) {
    rows.push_back({row.line, row.label, row.dense, {row.categorical.begin(), row.categorical.end()}});
  }
  return rows;
}

}  // namespace

TEST_CASE("line reader handles CRLF, a missing final newline and empty lines", "[data][readers]") {
  TempDir dir("lines");
  CHECK(read_lines(dir.write("a.txt", "one\r\ntwo\n\nthree")) ==
        std::vector<std::string>{"one", "two", "", "three"});
  CHECK(read_lines(dir.write("b.txt", "one\ntwo\n")) == std::vector<std::string>{"one", "two"});
  CHECK(read_lines(dir.write("c.txt", "")).empty());
  CHECK(read_lines(dir.write("d.txt", "last\r")) == std::vector<std::string>{"last"});
}

TEST_CASE("line reader crosses buffer boundaries and flags overlong lines", "[data][readers]") {
  TempDir dir("long_lines");
  std::string content;
  std::vector<std::string> expected;
  for (int i = 0; i < 30000; ++i) {  // ~2.5 MB: several refills of the 1 MiB buffer
    expected.push_back(std::string("row ").append(std::to_string(i)).append(static_cast<std::size_t>(i % 150), 'x'));
    content += expected.back() + (i % 2 ? "\r\n" : "\n");
  }
  CHECK(read_lines(dir.write("many.txt", content)) == expected);

  const std::string huge(3'000'000, 'y');  // longer than the whole buffer
  std::vector<std::int64_t> overlong;
  const auto lines = read_lines(dir.write("huge.txt", std::string("ok\n").append(huge).append("\nafter\n").append(200, 'z')),
                                100, &overlong);
  CHECK(lines == std::vector<std::string>{"ok", "", "after", ""});
  CHECK(overlong == std::vector<std::int64_t>{2, 4});
}

TEST_CASE("dense values: empty is 0, log(1 + x) for x > 0, else 0, non-numbers rejected", "[data][readers]") {
  float v = -1.0f;
  CHECK(parse_dense("", v));
  CHECK(v == 0.0f);
  CHECK(parse_dense("5", v));
  CHECK(v == Approx(std::log(6.0)));
  CHECK(parse_dense("2.5", v));
  CHECK(v == Approx(std::log(3.5)));
  CHECK(parse_dense("-3", v));
  CHECK(v == 0.0f);
  CHECK(parse_dense("0", v));
  CHECK(v == 0.0f);
  CHECK_FALSE(parse_dense("abc", v));
  CHECK_FALSE(parse_dense("12x", v));
  CHECK_FALSE(parse_dense(" 1", v));
  CHECK_FALSE(parse_dense("nan", v));
  CHECK_FALSE(parse_dense("inf", v));
}

TEST_CASE("criteo reader parses label, transformed dense and raw categoricals", "[data][readers]") {
  TempDir dir("criteo_good");
  const std::string path =
      dir.write("train.tsv", criteo_row("1", "") + "\r\n" + criteo_row("0", "-2", "") + "\n" + criteo_row("1", "7"));
  DelimitedReader reader(path, criteo_format());
  const auto rows = read_all(reader);
  REQUIRE(rows.size() == 3);
  CHECK(reader.report().rows == 3);
  CHECK(reader.report().malformed == 0);
  CHECK(rows[0].label == 1.0f);
  CHECK(rows[1].label == 0.0f);
  CHECK(rows[0].dense.size() == 13);
  CHECK(rows[0].dense[0] == 0.0f);  // empty
  CHECK(rows[1].dense[0] == 0.0f);  // negative
  CHECK(rows[2].dense[0] == Approx(std::log(8.0)));
  CHECK(rows[0].dense[12] == Approx(std::log(13.0)));
  CHECK(rows[0].categorical.size() == 26);
  CHECK(rows[0].categorical[0] == "68fd1e64");
  CHECK(rows[1].categorical[0].empty());
  CHECK(rows[2].categorical[24] == "a1b2c3d4");
  CHECK(rows[2].categorical[25].empty());  // an empty last field
  CHECK(rows[0].categorical[5].empty());
  CHECK(rows[2].line == 3);
}

TEST_CASE("criteo reader reports every malformed case with its line and reason", "[data][readers]") {
  TempDir dir("criteo_bad");
  std::string content;
  content += criteo_row("0") + "\n";                          // 1 good
  content += criteo_row("2") + "\n";                          // 2 label not 0/1
  content += criteo_row("1", "x7") + "\n";                    // 3 dense not numeric
  content += criteo_row("1") + "\textra\n";                   // 4 too many fields
  content += "0\t1\t2\n";                                     // 5 too few fields
  content += "\n";                                            // 6 blank line
  content += criteo_row("1") + std::string(300, 'q') + "\n";  // 7 overlong
  content += criteo_row("") + "\n";                           // 8 empty label
  content += criteo_row("1");                                 // 9 good, no final newline
  const std::string path = dir.write("bad.tsv", content);

  ReadOptions options;
  options.max_line_bytes = 250;
  options.max_examples = 3;
  DelimitedReader reader(path, criteo_format(), options);
  const auto rows = read_all(reader);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].line == 1);
  CHECK(rows[1].line == 9);
  const ParseReport& report = reader.report();
  CHECK(report.rows == 2);
  CHECK(report.malformed == 7);
  CHECK(report.by_reason[static_cast<int>(MalformedReason::label_value)] == 2);
  CHECK(report.by_reason[static_cast<int>(MalformedReason::dense_value)] == 1);
  CHECK(report.by_reason[static_cast<int>(MalformedReason::field_count)] == 3);
  CHECK(report.by_reason[static_cast<int>(MalformedReason::overlong_line)] == 1);
  REQUIRE(report.examples.size() == 3);  // the first three, in file order
  CHECK(report.examples[0].line == 2);
  CHECK(report.examples[0].reason == MalformedReason::label_value);
  CHECK(report.examples[1].line == 3);
  CHECK(report.examples[1].reason == MalformedReason::dense_value);
  CHECK(report.examples[1].detail.find("'x7'") != std::string::npos);
  CHECK(report.examples[2].line == 4);
  CHECK(report.examples[2].detail == "41 fields, expected 40");
  CHECK(report.examples[0].message().find("bad.tsv:2: label not 0/1") != std::string::npos);
  CHECK(report.summary().find("7 malformed") != std::string::npos);
}

TEST_CASE("strict mode throws at the first malformed row, naming file, line and reason", "[data][readers]") {
  TempDir dir("criteo_strict");
  const std::string path = dir.write("strict.tsv", criteo_row("0") + "\n" + criteo_row("1") + "\n" +
                                                       criteo_row("1", "1e") + "\n" + criteo_row("5") + "\n");
  ReadOptions options;
  options.strict = true;
  DelimitedReader reader(path, criteo_format(), options);
  RawRow row;
  CHECK(reader.next(row));
  CHECK(reader.next(row));
  try {
    reader.next(row);
    FAIL("strict mode did not throw");
  } catch (const DataError& e) {
    const std::string message = e.what();
    CHECK(message.find("strict.tsv:3") != std::string::npos);
    CHECK(message.find("dense value not numeric") != std::string::npos);
  }
}

TEST_CASE("strict mode names every reason: field count, label, overlong line", "[data][readers]") {
  struct Case {
    std::string bad_row;
    const char* reason;
  };
  const std::string overlong = criteo_row("1", "3", std::string(500, 'a'));
  for (const Case& c : {Case{"1\t2\t3", to_string(MalformedReason::field_count)},
                        Case{criteo_row("5"), to_string(MalformedReason::label_value)},
                        Case{overlong, to_string(MalformedReason::overlong_line)}}) {
    INFO(c.reason);
    TempDir dir("criteo_strict_reasons");
    const std::string path = dir.write("strict.tsv", criteo_row("0") + "\n" + c.bad_row + "\n");
    ReadOptions options;
    options.strict = true;
    options.max_line_bytes = 400;
    DelimitedReader reader(path, criteo_format(), options);
    RawRow row;
    CHECK(reader.next(row));
    CHECK_THROWS_WITH(reader.next(row), Catch::Contains("strict.tsv:2") && Catch::Contains(c.reason));
  }
}

TEST_CASE("bytes that are not UTF-8 are an opaque categorical value, not an error", "[data][readers]") {
  TempDir dir("criteo_bytes");
  const std::string path =
      dir.write("bytes.tsv", criteo_row("1", "3", "\xff\xfe\x80") + "\n" + criteo_row("0") + "\n");
  ReadOptions options;
  options.strict = true;
  DelimitedReader reader(path, criteo_format(), options);
  RawRow row;
  REQUIRE(reader.next(row));
  CHECK(row.categorical[0] == "\xff\xfe\x80");
  REQUIRE(reader.next(row));
  CHECK(row.categorical[0] == "68fd1e64");
  CHECK(reader.report().malformed == 0);
}

TEST_CASE("criteo reader without label reads 39 fields", "[data][readers]") {
  TempDir dir("criteo_unlabeled");
  std::string row = criteo_row("0");
  row = row.substr(2);  // drop "0\t"
  DelimitedReader reader(dir.write("test.tsv", row + "\n" + row + "\n"), criteo_format(false));
  const auto rows = read_all(reader);
  CHECK(rows.size() == 2);
  CHECK(reader.report().malformed == 0);
  CHECK(rows[0].dense[0] == Approx(std::log(4.0)));
  // A labelled row has 40 fields: malformed for this format.
  DelimitedReader labelled(dir.write("labelled.tsv", criteo_row("0") + "\n"), criteo_format(false));
  CHECK(read_all(labelled).empty());
  CHECK(labelled.report().by_reason[static_cast<int>(MalformedReason::field_count)] == 1);
}

namespace {
std::string avazu_row(const std::string& id, const std::string& click) {
  std::string row = id + "," + click + ",14102100";
  for (int c = 1; c < 22; ++c) {
    row += ',';
    if (c != 7) row.append("v").append(std::to_string(c));
  }
  return row;
}
const std::string kAvazuHeader =
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,"
    "device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21";
}  // namespace

TEST_CASE("avazu reader with and without header", "[data][readers]") {
  TempDir dir("avazu");
  const std::string body = avazu_row("1000009418151094273", "0") + "\n" + avazu_row("10000169349117863715", "1") + "\r\n";
  for (const HeaderMode mode : {HeaderMode::detect, HeaderMode::present}) {
    DelimitedReader with_header(dir.write("with.csv", kAvazuHeader + "\n" + body), avazu_format(true, mode));
    const auto rows = read_all(with_header);
    REQUIRE(rows.size() == 2);
    CHECK(with_header.header_skipped());
    CHECK(with_header.report().malformed == 0);
    CHECK(rows[1].label == 1.0f);
    CHECK(rows[0].line == 2);
    CHECK(rows[0].categorical.size() == 22);
    CHECK(rows[0].categorical[0] == "14102100");  // hour is categorical
    CHECK(rows[0].categorical[7].empty());
    CHECK(rows[0].categorical[21] == "v21");
    CHECK(rows[0].dense.empty());
  }
  for (const HeaderMode mode : {HeaderMode::detect, HeaderMode::none}) {
    DelimitedReader without(dir.write("without.csv", body), avazu_format(true, mode));
    CHECK(read_all(without).size() == 2);
    CHECK_FALSE(without.header_skipped());
  }
  // Detection on unlabeled Avazu (id, then 22 categoricals) looks at the id column.
  const std::string unlabeled_header = "id," + kAvazuHeader.substr(9);
  const std::string unlabeled_row = "1000009418151094273," + avazu_row("x", "0").substr(4);
  DelimitedReader unlabeled(dir.write("test.csv", unlabeled_header + "\n" + unlabeled_row + "\n"),
                            avazu_format(false));
  REQUIRE(read_all(unlabeled).size() == 1);
  CHECK(unlabeled.header_skipped());
  CHECK(unlabeled.report().malformed == 0);
  // A numeric but invalid label on the first line is a malformed row, not a header.
  DelimitedReader invalid(dir.write("invalid.csv", avazu_row("1", "2") + "\n" + body), avazu_format());
  CHECK(read_all(invalid).size() == 2);
  CHECK_FALSE(invalid.header_skipped());
  CHECK(invalid.report().by_reason[static_cast<int>(MalformedReason::label_value)] == 1);
  // Header mode "none" on a file with a header: the header is a malformed row (label "click").
  DelimitedReader wrong(dir.write("wrong.csv", kAvazuHeader + "\n" + body), avazu_format(true, HeaderMode::none));
  CHECK(read_all(wrong).size() == 2);
  REQUIRE(wrong.report().malformed == 1);
  CHECK(wrong.report().examples[0].line == 1);
  CHECK(wrong.report().examples[0].reason == MalformedReason::label_value);
}

TEST_CASE("generic reader follows its format's columns", "[data][readers]") {
  TempDir dir("generic");
  TextFormat format;
  format.name = "mine";
  format.delimiter = ';';
  format.num_columns = 5;
  format.label_column = 3;
  format.dense_columns = {4, 0};
  format.categorical_columns = {2};  // column 1 ignored
  format.header = HeaderMode::detect;
  const std::string path = dir.write("g.txt", "a;b;c;label;e\n9;skip;red;1;-4\n;skip;;0;1.5\n1;x;blue;1;oops\n");
  DelimitedReader reader(path, format);
  const auto rows = read_all(reader);
  REQUIRE(rows.size() == 2);
  CHECK(reader.header_skipped());
  CHECK(rows[0].label == 1.0f);
  CHECK(rows[0].dense == std::vector<float>{0.0f, static_cast<float>(std::log(10.0))});
  CHECK(rows[0].categorical[0] == "red");
  CHECK(rows[1].dense[0] == Approx(std::log(2.5)));
  CHECK(rows[1].dense[1] == 0.0f);
  CHECK(rows[1].categorical[0].empty());
  REQUIRE(reader.report().malformed == 1);
  CHECK(reader.report().examples[0].line == 4);
  CHECK(reader.report().examples[0].detail.find("column 4") != std::string::npos);

  TextFormat bad = format;
  bad.categorical_columns = {3};  // the label column again
  CHECK_THROWS_AS(DelimitedReader(path, bad), InvalidArgument);
  bad.categorical_columns = {5};
  CHECK_THROWS_AS(DelimitedReader(path, bad), InvalidArgument);
  CHECK_THROWS_AS(DelimitedReader(dir.path("missing.txt"), format), DataError);
}
