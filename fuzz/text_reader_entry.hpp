// Fuzz entry of the delimited text reader (data/readers.hpp) in its three formats.
//
// Input: 5 bytes of settings, then the file content.
//   byte 0: bits 0-1 format (0 criteo, 1 avazu, 2-3 schema); bit 2 unlabeled (criteo, avazu);
//           bits 3-4 header mode (none, present, detect, detect); bit 5 strict mode;
//           bit 6 a small max_line_bytes (byte 1 + 1) instead of the default 64 KiB
//   byte 1: schema: bits 0-3 columns - 1 (1..16); bits 4-5 delimiter (tab , ; |)
//   bytes 2-4: schema: 2 bits per column, its role (0 ignored, 1 dense, 2 categorical,
//           3 label: the first such column; later ones are categorical)
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "embcomp/data/readers.hpp"
#include "fuzz_common.hpp"

namespace embcomp::fuzz {

inline TextFormat text_reader_format(const std::uint8_t* settings) {
  const std::uint8_t flags = settings[0];
  const bool labeled = (flags & 4) == 0;
  const HeaderMode modes[] = {HeaderMode::none, HeaderMode::present, HeaderMode::detect,
                              HeaderMode::detect};
  const HeaderMode header = modes[(flags >> 3) & 3];
  switch (flags & 3) {
    case 0: {
      TextFormat format = criteo_format(labeled);
      format.header = header;
      return format;
    }
    case 1: return avazu_format(labeled, header);
    default: break;
  }
  TextFormat format;
  format.name = "schema";
  format.num_columns = 1 + (settings[1] & 15);
  const char delimiters[] = {'\t', ',', ';', '|'};
  format.delimiter = delimiters[(settings[1] >> 4) & 3];
  format.header = header;
  const std::uint32_t roles = static_cast<std::uint32_t>(settings[2]) |
                              static_cast<std::uint32_t>(settings[3]) << 8 |
                              static_cast<std::uint32_t>(settings[4]) << 16;
  for (Index c = 0; c < format.num_columns; ++c) {
    const auto role = (roles >> (2 * (c % 12))) & 3;
    if (role == 1) format.dense_columns.push_back(c);
    if (role == 2 || (role == 3 && format.has_label())) format.categorical_columns.push_back(c);
    if (role == 3 && !format.has_label()) format.label_column = c;
  }
  return format;
}

/// Reads every row; throws what the reader throws (DataError in strict mode).
inline void run_text_reader(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kSettings = 5;
  if (size < kSettings) return;
  static const ScratchDir scratch("text_reader");
  const std::string path = scratch.path("input.txt");
  write_file(path, data + kSettings, size - kSettings);

  const TextFormat format = text_reader_format(data);
  ReadOptions options;
  options.strict = (data[0] & 32) != 0;
  if (data[0] & 64) options.max_line_bytes = std::size_t{data[1]} + 1;
  options.max_examples = 3;

  DelimitedReader reader(path, format, options);
  RawRow row;
  std::int64_t rows = 0, last_line = 0;
  while (reader.next(row)) {
    ++rows;
    EMBCOMP_FUZZ_CHECK(row.line > last_line);
    last_line = row.line;
    EMBCOMP_FUZZ_CHECK(row.dense.size() == format.dense_columns.size());
    EMBCOMP_FUZZ_CHECK(row.categorical.size() == format.categorical_columns.size());
    EMBCOMP_FUZZ_CHECK(row.label == 0.0f || row.label == 1.0f);
    for (float x : row.dense) EMBCOMP_FUZZ_CHECK(std::isfinite(x) && x >= 0.0f);
    for (std::string_view value : row.categorical) {
      EMBCOMP_FUZZ_CHECK(value.size() <= options.max_line_bytes);
      EMBCOMP_FUZZ_CHECK(value.find('\n') == std::string_view::npos);
    }
  }
  const ParseReport& report = reader.report();
  EMBCOMP_FUZZ_CHECK(report.rows == rows);
  EMBCOMP_FUZZ_CHECK(report.examples.size() <= options.max_examples);
  std::int64_t by_reason = 0;
  for (std::int64_t n : report.by_reason) by_reason += n;
  EMBCOMP_FUZZ_CHECK(by_reason == report.malformed);
  EMBCOMP_FUZZ_CHECK(!options.strict || report.malformed == 0);
  EMBCOMP_FUZZ_CHECK(!report.summary().empty());
  EMBCOMP_FUZZ_CHECK(!reader.next(row));  // stays at the end
}

}  // namespace embcomp::fuzz

/// The libFuzzer entry: project errors (embcomp::Error) are expected; anything else escapes.
inline int fuzz_text_reader(const std::uint8_t* data, std::size_t size) {
  return embcomp::fuzz::expecting_project_errors(embcomp::fuzz::run_text_reader, data, size);
}
