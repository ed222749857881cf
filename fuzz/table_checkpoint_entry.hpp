// Fuzz entry of the table checkpoint loader: load_table(std::istream&) (registry.hpp).
//
// Input: the checkpoint file. It is loaded as it is, then (when they differ) with its header
// digest and trailing checksum recomputed, so that mutations reach the header and the method
// state behind the checksums. A table that loads is used (lookup, memory, statistics) and
// saved and loaded again.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include "embcomp/registry.hpp"
#include "fuzz_common.hpp"
#include "table_use.hpp"

namespace embcomp::fuzz {

/// The checkpoint with its header digest and trailing checksum recomputed (format in
/// src/checkpoint.cpp: magic | u32 version | u32 flags | table identity | u64 digest | ...).
inline std::string fix_table_checkpoint(std::string bytes) {
  Cursor in(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  in.skip(8 + 4 + 4);
  skip_table_identity(in);
  if (in.ok()) fix_digest(bytes, in.offset());
  fix_trailing_checksum(bytes);
  return bytes;
}

inline void load_table_bytes(const std::string& bytes) {
  std::istringstream in(bytes, std::ios::in | std::ios::binary);
  const auto table = load_table(in);
  use_table(*table, true);
}

/// Loads the bytes as they are, then fixed up; throws the first project error of the second
/// load (or of the first when the fix-up changes nothing).
inline void run_table_checkpoint(const std::uint8_t* data, std::size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  const std::string fixed = fix_table_checkpoint(raw);
  if (fixed == raw) {
    load_table_bytes(raw);
    return;
  }
  try {
    load_table_bytes(raw);
  } catch (const Error&) {
  }
  load_table_bytes(fixed);
}

}  // namespace embcomp::fuzz

/// The libFuzzer entry: project errors (embcomp::Error) are expected; anything else escapes.
inline int fuzz_table_checkpoint(const std::uint8_t* data, std::size_t size) {
  return embcomp::fuzz::expecting_project_errors(embcomp::fuzz::run_table_checkpoint, data, size);
}
