// Streaming text input shared by every reader: a buffered line reader (no allocation per line
// once warm; "\n" or "\r\n" endings; a last line without newline is a line), field splitting,
// and the malformed-row report with line numbers.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "embcomp/core/error.hpp"
#include "embcomp/core/types.hpp"

namespace embcomp {

/// A data file or data cache is unreadable, malformed (in strict mode) or foreign.
class DataError : public Error {
 public:
  using Error::Error;
};

/// Reads a text file line by line through one large buffer. Line numbers start at 1.
class LineReader {
 public:
  /// Opens `path`; lines longer than `max_line_bytes` (without the line ending) are reported
  /// as overlong and skipped whole. Throws DataError if the file cannot be opened.
  LineReader(std::string path, std::size_t max_line_bytes);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line without its ending, valid until the next call; false at the end of file.
  /// `overlong` is set when the line exceeded the limit (`line` is then empty).
  bool next(std::string_view& line, bool& overlong);
  /// Number of the line last returned by next().
  std::int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  bool refill();  // moves the unread tail to the front and reads more; false at end of file
  void skip_rest_of_line();

  std::string path_;
  std::FILE* file_ = nullptr;
  std::size_t max_line_bytes_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  std::int64_t line_number_ = 0;
};

/// Splits `line` at `delimiter` into `fields` (views into `line`; the vector's capacity is reused).
void split_fields(std::string_view line, char delimiter, std::vector<std::string_view>& fields);

/// Why a row was rejected.
enum class MalformedReason : int { field_count = 0, dense_value, label_value, overlong_line };
inline constexpr int kMalformedReasons = 4;
const char* to_string(MalformedReason reason);

/// One rejected row: where it was and why (the reason text names the field and value).
struct MalformedRow {
  std::string file;
  std::int64_t line = 0;
  MalformedReason reason = MalformedReason::field_count;
  std::string detail;

  /// "file:line: reason (detail)".
  std::string message() const;
};

/// Counts of good and malformed rows; keeps the first `max_examples` malformed rows.
struct ParseReport {
  std::int64_t rows = 0;       ///< rows parsed successfully
  std::int64_t malformed = 0;  ///< rows rejected (each counted once, never parsed)
  std::array<std::int64_t, kMalformedReasons> by_reason{};
  std::vector<MalformedRow> examples;
  std::size_t max_examples = 20;

  void add(MalformedRow row);
  /// Adds the counts (and examples, up to the limit) of another report.
  void merge(const ParseReport& other);
  /// A short human-readable summary with the kept examples.
  std::string summary() const;
};

}  // namespace embcomp
