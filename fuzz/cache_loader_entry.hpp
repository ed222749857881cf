// Fuzz entry of the binary data cache loader (data/cache.hpp: CacheReader, CachedDataset).
//
// Input: byte 0 flags, u16 (little-endian) meta length L, L bytes of meta.bin, then a pool of
// bytes that fills the column files.
//   flag bit 0: recompute meta.bin's trailing XXH64, so mutations reach the parsing behind it
//   flag bit 1: also set each listed column file's checksum to that of the file written
// The harness parses meta.bin leniently to find the column files it lists, and writes those
// with a plain name (labels.f32, dense.f32, ids_<f>.i32|i64, counts_<f>.u64) and at most
// 64 KiB each with the listed size, filled from the pool; then it opens the cache and reads
// every way a trainer does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "embcomp/data/cache.hpp"
#include "embcomp/data/source.hpp"
#include "fuzz_common.hpp"

namespace embcomp::fuzz {

inline bool plain_cache_file_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || name == "meta.bin") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  }) && name.find("..") == std::string_view::npos && name.front() != '.';
}

/// Writes the column files meta.bin lists (see above); patches their checksums into `meta`
/// when `fix_file_checksums`.
inline void write_cache_columns(const ScratchDir& dir, std::string& meta, const std::uint8_t* pool,
                                std::size_t pool_size, bool fix_file_checksums) {
  Cursor in(reinterpret_cast<const std::uint8_t*>(meta.data()), meta.size());
  in.skip(8 + 4 + 8 + 4);
  const auto fields = in.pod<std::uint32_t>();
  if (!in.ok() || fields > 100000) return;
  in.skip(1 + 8);
  in.skip(std::uint64_t{fields} * 10);
  const auto parts = in.pod<std::uint32_t>();
  for (std::uint32_t p = 0; p < parts && in.ok(); ++p) {
    in.string(1 << 20);
    in.skip(8);
  }
  const auto files = in.pod<std::uint32_t>();
  std::size_t written = 0;
  std::vector<unsigned char> content;
  for (std::uint32_t i = 0; i < files && in.ok(); ++i) {
    const std::string name(in.string(4096));
    const auto bytes = in.pod<std::uint64_t>();
    const std::size_t checksum_at = in.offset();
    in.skip(8);
    if (!in.ok() || !plain_cache_file_name(name) || bytes > (1 << 16) ||
        written + bytes > (1 << 20)) {
      continue;
    }
    content.assign(static_cast<std::size_t>(bytes), 0);
    for (std::size_t b = 0; b < content.size() && pool_size > 0; ++b) {
      content[b] = pool[(written + b) % pool_size];
    }
    written += content.size();
    write_file(dir.path(name), content.data(), content.size());
    if (fix_file_checksums) {
      const std::uint64_t sum = XXH64(content.data(), content.size(), 0);
      std::memcpy(meta.data() + checksum_at, &sum, sizeof sum);
    }
  }
}

/// Opens the cache and reads it; throws what the library throws.
inline void run_cache_loader(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return;
  static const ScratchDir scratch("cache_loader");
  scratch.clear();
  const std::uint8_t flags = data[0];
  const std::size_t meta_size =
      std::min<std::size_t>(size - 3, static_cast<std::size_t>(data[1] | data[2] << 8));
  std::string meta(reinterpret_cast<const char*>(data + 3), meta_size);
  write_cache_columns(scratch, meta, data + 3 + meta_size, size - 3 - meta_size, (flags & 2) != 0);
  if (flags & 1) fix_trailing_checksum(meta);
  write_file(scratch.path("meta.bin"), meta.data(), meta.size());

  const CacheReader cache(scratch.path());
  const CacheMeta& m = cache.meta();
  Batch batch;
  if (cache.rows() > 0) {
    const auto count = static_cast<Index>(std::min<std::uint64_t>(cache.rows(), 32));
    cache.read_range(0, count, batch);
    EMBCOMP_FUZZ_CHECK(batch.size == count);
    const Index last = static_cast<Index>(std::min<std::uint64_t>(cache.rows() - 1, INT64_MAX));
    const Index rows[] = {last, 0};
    cache.read_rows(rows, batch);
  }
  for (Index f = 0; f < m.num_fields(); ++f) {
    EMBCOMP_FUZZ_CHECK(static_cast<Index>(cache.counts(f).size()) ==
                       m.fields[static_cast<std::size_t>(f)].cardinality);
  }
  try {
    cache.verify_checksums();
  } catch (const DataError&) {
  }
  if (m.parts.size() == 3) {
    const CachedDataset dataset(scratch.path(), split_by_files(m));
    for (SplitPart part : {SplitPart::train, SplitPart::validation, SplitPart::test}) {
      dataset.read(part, 0, 16, batch);
      EMBCOMP_FUZZ_CHECK(batch.size == std::min<Index>(16, dataset.rows(part)));
    }
  }
}

}  // namespace embcomp::fuzz

/// The libFuzzer entry: project errors (embcomp::Error) are expected; anything else escapes.
inline int fuzz_cache_loader(const std::uint8_t* data, std::size_t size) {
  return embcomp::fuzz::expecting_project_errors(embcomp::fuzz::run_cache_loader, data, size);
}
