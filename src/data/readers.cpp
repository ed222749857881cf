#include "embcomp/data/readers.hpp"

#include <charconv>
#include <cmath>

namespace embcomp {

void TextFormat::validate() const {
  if (num_columns < 1) throw InvalidArgument("text format '" + name + "': num_columns must be >= 1");
  std::vector<bool> used(static_cast<std::size_t>(num_columns), false);
  auto claim = [&](Index column, const char* role) {
    if (column < 0 || column >= num_columns) {
      throw InvalidArgument("text format '" + name + "': " + role + " column " +
                            std::to_string(column) + " is outside [0, " +
                            std::to_string(num_columns) + ")");
    }
    if (used[static_cast<std::size_t>(column)]) {
      throw InvalidArgument("text format '" + name + "': column " + std::to_string(column) +
                            " is used twice");
    }
    used[static_cast<std::size_t>(column)] = true;
  };
  if (has_label()) claim(label_column, "label");
  for (Index c : dense_columns) claim(c, "dense");
  for (Index c : categorical_columns) claim(c, "categorical");
}

namespace {
std::vector<Index> column_range(Index first, Index count) {
  std::vector<Index> columns(static_cast<std::size_t>(count));
  for (Index i = 0; i < count; ++i) columns[static_cast<std::size_t>(i)] = first + i;
  return columns;
}

std::string quoted(std::string_view text) {
  constexpr std::size_t kShown = 40;
  std::string result;
  result.reserve(kShown + 5);
  result.append(1, '\'').append(text.substr(0, kShown)).append(text.size() > kShown ? "...'" : "'");
  return result;
}
}  // namespace

TextFormat criteo_format(bool has_label) {
  const Index first = has_label ? 1 : 0;
  TextFormat format;
  format.name = has_label ? "criteo" : "criteo-unlabeled";
  format.delimiter = '\t';
  format.num_columns = first + 13 + 26;
  format.label_column = has_label ? 0 : -1;
  format.dense_columns = column_range(first, 13);
  format.categorical_columns = column_range(first + 13, 26);
  return format;
}

TextFormat avazu_format(bool has_label, HeaderMode header) {
  const Index first = has_label ? 2 : 1;  // after id (and click)
  TextFormat format;
  format.name = has_label ? "avazu" : "avazu-unlabeled";
  format.delimiter = ',';
  format.num_columns = first + 22;
  format.label_column = has_label ? 1 : -1;
  format.categorical_columns = column_range(first, 22);
  format.header = header;
  return format;
}

bool parse_dense(std::string_view text, float& value) {
  if (text.empty()) {
    value = 0.0f;
    return true;
  }
  double x = 0.0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, x);
  if (error != std::errc{} || stop != end || !std::isfinite(x)) return false;
  value = x > 0.0 ? static_cast<float>(std::log1p(x)) : 0.0f;
  return true;
}

DelimitedReader::DelimitedReader(std::string path, TextFormat format, ReadOptions options)
    : format_(std::move(format)), options_(options), lines_(std::move(path), options.max_line_bytes) {
  format_.validate();
  report_.max_examples = options_.max_examples;
}

bool DelimitedReader::looks_like_header() const {
  if (static_cast<Index>(fields_.size()) != format_.num_columns) return false;
  std::vector<Index> numeric_columns = format_.dense_columns;
  if (format_.has_label()) numeric_columns.push_back(format_.label_column);
  if (numeric_columns.empty()) numeric_columns.push_back(0);
  float ignored = 0.0f;
  for (Index c : numeric_columns) {
    if (!parse_dense(fields_[static_cast<std::size_t>(c)], ignored)) return true;
  }
  return false;
}

bool DelimitedReader::parse(RawRow& row, MalformedRow& problem) const {
  if (static_cast<Index>(fields_.size()) != format_.num_columns) {
    problem.reason = MalformedReason::field_count;
    problem.detail = std::to_string(fields_.size()) + " fields, expected " +
                     std::to_string(format_.num_columns);
    return false;
  }
  row.line = lines_.line_number();
  row.label = 0.0f;
  if (format_.has_label()) {
    const std::string_view label = fields_[static_cast<std::size_t>(format_.label_column)];
    if (label != "0" && label != "1") {
      problem.reason = MalformedReason::label_value;
      problem.detail = "column " + std::to_string(format_.label_column) + " is " + quoted(label);
      return false;
    }
    row.label = label == "1" ? 1.0f : 0.0f;
  }
  row.dense.resize(format_.dense_columns.size());
  for (std::size_t j = 0; j < format_.dense_columns.size(); ++j) {
    const Index column = format_.dense_columns[j];
    const std::string_view text = fields_[static_cast<std::size_t>(column)];
    if (!parse_dense(text, row.dense[j])) {
      problem.reason = MalformedReason::dense_value;
      problem.detail = "column " + std::to_string(column) + " is " + quoted(text);
      return false;
    }
  }
  row.categorical.resize(format_.categorical_columns.size());
  for (std::size_t f = 0; f < format_.categorical_columns.size(); ++f) {
    row.categorical[f] = fields_[static_cast<std::size_t>(format_.categorical_columns[f])];
  }
  return true;
}

void DelimitedReader::reject(MalformedRow problem) {
  if (options_.strict) throw DataError("malformed row at " + problem.message());
  report_.add(std::move(problem));
}

bool DelimitedReader::next(RawRow& row) {
  std::string_view line;
  bool overlong = false;
  MalformedRow problem;
  while (lines_.next(line, overlong)) {
    if (overlong) {
      reject({lines_.path(), lines_.line_number(), MalformedReason::overlong_line,
              "longer than " + std::to_string(options_.max_line_bytes) + " bytes"});
      first_line_ = false;
      continue;
    }
    split_fields(line, format_.delimiter, fields_);
    if (first_line_) {
      first_line_ = false;
      const bool header = format_.header == HeaderMode::present ||
                          (format_.header == HeaderMode::detect && looks_like_header());
      if (header) {
        header_skipped_ = true;
        continue;
      }
    }
    if (parse(row, problem)) {
      ++report_.rows;
      return true;
    }
    problem.file = lines_.path();
    problem.line = lines_.line_number();
    reject(std::move(problem));
  }
  return false;
}

}  // namespace embcomp
