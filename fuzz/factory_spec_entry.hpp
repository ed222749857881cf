// Fuzz entry of the factory-string parser: make_table(spec, args) with a small fixed TableArgs
// (3 fields of 50, 7 and 3 ids, dim 4, ratio 1, 2, 4 or 8 by the length mod 4) and
// parse_option_pairs, both on the input bytes as a string. A table that builds is used
// (lookup, memory, statistics) and saved and loaded back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "embcomp/core/options.hpp"
#include "embcomp/registry.hpp"
#include "fuzz_common.hpp"
#include "table_use.hpp"

namespace embcomp::fuzz {

/// Parses the text and builds the table; throws the project error of make_table.
inline void run_factory_spec(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto pairs = parse_option_pairs(text, "fuzz");
    for (const auto& [name, value] : pairs) {
      EMBCOMP_FUZZ_CHECK(!name.empty());
      EMBCOMP_FUZZ_CHECK(name.find(',') == std::string::npos && value.find(',') == std::string::npos);
      EMBCOMP_FUZZ_CHECK(name.find('=') == std::string::npos);
    }
  } catch (const InvalidArgument&) {
  }
  if (size > 4096) return;  // make_table copies the spec into its messages
  // The compression ratio is 1, 2, 4 or 8 by the spec's length mod 4 ("full" needs 1).
  const double ratios[] = {1.0, 2.0, 4.0, 8.0};
  const double ratio = ratios[size % 4];
  const TableArgs args{Schema{{50, 7, 3}, 4}, Budget{ratio}, 11};
  const auto table = make_table(text, args);
  EMBCOMP_FUZZ_CHECK(!table->spec().empty());
  use_table(*table, true);
}

}  // namespace embcomp::fuzz

/// The libFuzzer entry: project errors (embcomp::Error) are expected; anything else escapes.
inline int fuzz_factory_spec(const std::uint8_t* data, std::size_t size) {
  return embcomp::fuzz::expecting_project_errors(embcomp::fuzz::run_factory_spec, data, size);
}
