// The binary data cache: a directory of column files read through mmap, so a trainer serves any
// row range (or list of rows) without loading the data set.
//
// Layout of a cache directory (all little-endian, row-major):
//   meta.bin        metadata, written with embcomp::Writer and ending in an XXH64 of its bytes:
//                   u64 magic "EMBCDATA", u32 version (2), u64 rows, u32 num_dense,
//                   u32 num_fields, u8 has_labels, i64 min_count, u8 id order (id_order.hpp),
//                   per field: i64 cardinality, u8 id bytes (4 or 8), u8 has_oov,
//                   u32 parts, per part: string source, u64 rows   (input files, in row order),
//                   u32 files, per column file: string name, u64 bytes, u64 XXH64 of the bytes
//   labels.f32      [rows] float32 in {0, 1}
//   dense.f32       [rows x num_dense] float32, already log(1 + x)-transformed
//   ids_<f>.i32     [rows] field f's local ids (ids_<f>.i64 when cardinality > 2^31 - 1)
//   counts_<f>.u64  [cardinality] occurrences of each id of field f
// Opening checks magic, version, the metadata checksum and every column file's size, so a
// truncated or foreign cache is an error; verify_checksums() also hashes the column bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "embcomp/core/schema.hpp"
#include "embcomp/data/batch.hpp"
#include "embcomp/data/id_order.hpp"
#include "embcomp/data/text_reader.hpp"

namespace embcomp {

inline constexpr std::uint64_t kCacheMagic = 0x4154414443424D45ULL;  // "EMBCDATA"
/// 2: the id order after min_count (version 1 caches are refused: prepare them again).
inline constexpr std::uint32_t kCacheVersion = 2;

struct CacheField {
  Index cardinality = 0;
  std::uint8_t id_bytes = 4;
  bool has_oov = false;
};

struct CachePart {
  std::string source;
  std::uint64_t rows = 0;
};

struct CacheFile {
  std::string name;
  std::uint64_t bytes = 0;
  std::uint64_t checksum = 0;
};

struct CacheMeta {
  std::uint64_t rows = 0;
  Index num_dense = 0;
  bool has_labels = true;
  std::int64_t min_count = 1;
  IdOrder id_order = IdOrder::ranked;
  std::vector<CacheField> fields;
  std::vector<CachePart> parts;
  std::vector<CacheFile> files;

  Index num_fields() const { return static_cast<Index>(fields.size()); }
  std::vector<Index> cardinalities() const;
  Schema schema(Index dim = 16) const { return Schema{cardinalities(), dim}; }
};

/// Writes a cache row by row. Usage: append rows, end_part() after each input file,
/// write_counts() per field, then finish().
class CacheWriter {
 public:
  CacheWriter(std::string directory, Index num_dense, std::vector<CacheField> fields,
              bool has_labels, std::int64_t min_count, IdOrder id_order = IdOrder::ranked);
  ~CacheWriter();
  CacheWriter(const CacheWriter&) = delete;
  CacheWriter& operator=(const CacheWriter&) = delete;

  /// Appends one row: `dense` has num_dense values, `ids` one id per field.
  void append(float label, std::span<const float> dense, std::span<const Index> ids);
  /// Closes the current part (rows appended since the previous end_part) as `source`.
  void end_part(std::string source);
  void write_counts(Index field, std::span<const std::uint64_t> counts);
  /// Flushes every column and writes meta.bin. Nothing is readable before.
  void finish();
  std::uint64_t rows() const { return meta_.rows; }

 private:
  struct Column;
  Column& column(std::size_t index) { return *columns_[index]; }

  std::string directory_;
  CacheMeta meta_;
  std::uint64_t part_start_ = 0;
  std::vector<std::unique_ptr<Column>> columns_;  // labels, dense, ids_0 .. ids_{F-1}
  std::vector<CacheFile> count_files_;
  bool finished_ = false;
};

/// A read-only memory mapping of a whole file.
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Reads a cache directory through mmap. Thread-safe for concurrent reads.
class CacheReader {
 public:
  /// Opens and checks `directory`; throws DataError if it is missing, foreign, of another
  /// version, damaged or truncated.
  explicit CacheReader(std::string directory);

  const CacheMeta& meta() const { return meta_; }
  std::uint64_t rows() const { return meta_.rows; }
  const std::string& directory() const { return directory_; }

  /// Rows [first, first + count) into `out` (count must stay within rows()).
  void read_range(std::uint64_t first, Index count, Batch& out) const;
  /// The listed rows, in list order, into `out`.
  void read_rows(std::span<const Index> rows, Batch& out) const;
  /// Occurrences of each id of field f.
  std::span<const std::uint64_t> counts(Index field) const;
  /// Hashes every column file and compares with the metadata; throws DataError on a mismatch.
  void verify_checksums() const;

 private:
  void copy_row(std::uint64_t row, Index slot, Batch& out) const;

  std::string directory_;
  CacheMeta meta_;
  MappedFile labels_, dense_;
  std::vector<MappedFile> ids_, counts_;
};

}  // namespace embcomp
