// Readers of delimited text data: Criteo Kaggle/Terabyte TSV, Avazu CSV and a generic reader
// driven by a TextFormat. All three are one DelimitedReader with different formats, so line
// reading, field splitting, parsing and malformed-row reporting are shared.
//
// Parsing rules (those of the reference preprocessing):
//   label: exactly "0" or "1";
//   dense: empty -> 0; otherwise a finite decimal number x, stored as log(1 + x) if x > 0, else 0;
//   categorical: the raw bytes of the field, empty allowed (the empty value is a value).
// A row is malformed when its field count differs from the format's, a dense value is not a
// number, the label is not 0/1, or the line exceeds ReadOptions::max_line_bytes. Malformed rows
// are counted in the ParseReport with file, line and reason, and skipped; strict mode throws a
// DataError for the first one instead.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "embcomp/data/text_reader.hpp"

namespace embcomp {

/// Whether the first line is a header: never, always, or detected: when its label or a dense
/// field is text that is not a number (formats with neither, like unlabeled Avazu, look at
/// column 0). A first row with a numeric but invalid label (e.g. "2") is a malformed row.
enum class HeaderMode { none, present, detect };

/// Column layout of a delimited file. Columns not named as label, dense or categorical
/// (e.g. Avazu's `id`) are ignored but still counted in num_columns.
struct TextFormat {
  std::string name = "generic";
  char delimiter = '\t';
  Index num_columns = 0;          ///< fields per row; other counts are malformed
  Index label_column = -1;        ///< -1: the file has no label (labels read as 0)
  std::vector<Index> dense_columns;        ///< in output order
  std::vector<Index> categorical_columns;  ///< in output order: field f is column [f]
  HeaderMode header = HeaderMode::none;

  bool has_label() const { return label_column >= 0; }
  Index num_dense() const { return static_cast<Index>(dense_columns.size()); }
  Index num_fields() const { return static_cast<Index>(categorical_columns.size()); }
  /// Throws InvalidArgument on column indices out of range or used twice.
  void validate() const;
};

/// Criteo Kaggle / Terabyte TSV: [label,] I1..I13, C1..C26 (40 columns, 39 without label).
TextFormat criteo_format(bool has_label = true);
/// Avazu CSV: id, [click,] then 22 categorical columns (hour included): 24 columns, 23 without
/// the label as in Avazu's test file. The header is detected by default.
TextFormat avazu_format(bool has_label = true, HeaderMode header = HeaderMode::detect);

struct ReadOptions {
  std::size_t max_line_bytes = std::size_t{1} << 16;
  bool strict = false;           ///< throw DataError at the first malformed row
  std::size_t max_examples = 20; ///< malformed rows kept in the report with their reason
};

/// One parsed row. `categorical` views are valid until the next call of next().
struct RawRow {
  std::int64_t line = 0;
  float label = 0.0f;
  std::vector<float> dense;                   ///< already log(1 + x)-transformed
  std::vector<std::string_view> categorical;  ///< raw values, one per field
};

/// Reads the rows of one file in the given format.
class DelimitedReader {
 public:
  DelimitedReader(std::string path, TextFormat format, ReadOptions options = {});

  /// The next good row; malformed rows are recorded in report() and skipped (or thrown in
  /// strict mode). False at the end of the file.
  bool next(RawRow& row);
  const ParseReport& report() const { return report_; }
  const TextFormat& format() const { return format_; }
  /// Whether a header line was found and skipped (known after the first next()).
  bool header_skipped() const { return header_skipped_; }

 private:
  /// Parses fields_ into row; on failure fills `problem` and returns false.
  bool parse(RawRow& row, MalformedRow& problem) const;
  bool looks_like_header() const;
  void reject(MalformedRow problem);

  TextFormat format_;
  ReadOptions options_;
  LineReader lines_;
  ParseReport report_;
  std::vector<std::string_view> fields_;
  bool first_line_ = true;
  bool header_skipped_ = false;
};

/// Parses a dense text value by the rules above; false if it is not a finite number.
bool parse_dense(std::string_view text, float& value);

}  // namespace embcomp
