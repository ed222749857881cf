#include "embcomp/data/cache.hpp"

#include "embcomp/core/atomic_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <xxhash.h>

#include "embcomp/core/serialize.hpp"

namespace embcomp {

std::vector<Index> CacheMeta::cardinalities() const {
  std::vector<Index> result;
  for (const CacheField& f : fields) result.push_back(f.cardinality);
  return result;
}

namespace {

std::string ids_file_name(Index field, std::uint8_t id_bytes) {
  return "ids_" + std::to_string(field) + (id_bytes == 4 ? ".i32" : ".i64");
}
std::string counts_file_name(Index field) { return "counts_" + std::to_string(field) + ".u64"; }

/// Writes `bytes` to a new file at `path`, returning its size and XXH64.
CacheFile write_whole_file(const std::string& directory, const std::string& name,
                           const void* bytes, std::size_t size) {
  const std::string path = directory + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(size));
  out.close();
  if (!out) throw DataError("data cache: cannot write '" + path + "'");
  return {name, size, XXH64(bytes, size, 0)};
}

}  // namespace

/// One output column file: a write buffer, a running XXH64 and a byte count.
struct CacheWriter::Column {
  static constexpr std::size_t kBufferBytes = std::size_t{1} << 20;

  Column(std::string directory, std::string file_name) : name(std::move(file_name)) {
    path = directory + "/" + name;
    file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) {
      throw DataError("data cache: cannot create '" + path + "': " + std::strerror(errno));
    }
    XXH64_reset(&hash, 0);
    buffer.resize(kBufferBytes);
  }
  ~Column() {
    if (file != nullptr) std::fclose(file);
  }
  void put(const void* data, std::size_t n) {
    if (n == 0) return;
    if (filled + n > buffer.size()) flush();
    if (n > buffer.size()) buffer.resize(n);
    std::memcpy(buffer.data() + filled, data, n);
    filled += n;
  }
  void flush() {
    if (filled == 0) return;
    if (std::fwrite(buffer.data(), 1, filled, file) != filled) {
      throw DataError("data cache: write to '" + path + "' failed (disk full?)");
    }
    XXH64_update(&hash, buffer.data(), filled);
    size += filled;
    filled = 0;
  }
  CacheFile close() {
    flush();
    if (std::fclose(file) != 0) throw DataError("data cache: closing '" + path + "' failed");
    file = nullptr;
    return {name, size, XXH64_digest(&hash)};
  }

  std::string name, path;
  std::FILE* file = nullptr;
  std::vector<char> buffer;
  std::size_t filled = 0;
  XXH64_state_t hash{};
  std::uint64_t size = 0;
};

CacheWriter::CacheWriter(std::string directory, Index num_dense, std::vector<CacheField> fields,
                         bool has_labels, std::int64_t min_count, IdOrder id_order)
    : directory_(std::move(directory)) {
  meta_.num_dense = num_dense;
  meta_.fields = std::move(fields);
  meta_.has_labels = has_labels;
  meta_.min_count = min_count;
  meta_.id_order = id_order;
  std::filesystem::create_directories(directory_);
  std::filesystem::remove(directory_ + "/meta.bin");  // a half-written cache is never readable
  columns_.push_back(std::make_unique<Column>(directory_, "labels.f32"));
  columns_.push_back(std::make_unique<Column>(directory_, "dense.f32"));
  for (Index f = 0; f < meta_.num_fields(); ++f) {
    CacheField& field = meta_.fields[static_cast<std::size_t>(f)];
    field.id_bytes = field.cardinality > Index{INT32_MAX} ? 8 : 4;
    columns_.push_back(std::make_unique<Column>(directory_, ids_file_name(f, field.id_bytes)));
  }
}

CacheWriter::~CacheWriter() = default;

void CacheWriter::append(float label, std::span<const float> dense, std::span<const Index> ids) {
  if (static_cast<Index>(dense.size()) != meta_.num_dense ||
      static_cast<Index>(ids.size()) != meta_.num_fields()) {
    throw InvalidArgument("data cache: a row has " + std::to_string(dense.size()) + " dense and " +
                          std::to_string(ids.size()) + " ids, expected " +
                          std::to_string(meta_.num_dense) + " and " +
                          std::to_string(meta_.num_fields()));
  }
  column(0).put(&label, sizeof(float));
  column(1).put(dense.data(), dense.size_bytes());
  for (std::size_t f = 0; f < ids.size(); ++f) {
    const CacheField& field = meta_.fields[f];
    if (ids[f] < 0 || ids[f] >= field.cardinality) {
      throw InvalidArgument("data cache: id " + std::to_string(ids[f]) + " of field " +
                            std::to_string(f) + " is outside [0, " +
                            std::to_string(field.cardinality) + ")");
    }
    if (field.id_bytes == 4) {
      const auto id = static_cast<std::int32_t>(ids[f]);
      column(2 + f).put(&id, sizeof(id));
    } else {
      column(2 + f).put(&ids[f], sizeof(Index));
    }
  }
  ++meta_.rows;
}

void CacheWriter::end_part(std::string source) {
  meta_.parts.push_back({std::move(source), meta_.rows - part_start_});
  part_start_ = meta_.rows;
}

void CacheWriter::write_counts(Index field, std::span<const std::uint64_t> counts) {
  if (field < 0 || field >= meta_.num_fields() ||
      static_cast<Index>(counts.size()) != meta_.fields[static_cast<std::size_t>(field)].cardinality) {
    throw InvalidArgument("data cache: counts of field " + std::to_string(field) +
                          " must have one entry per id");
  }
  count_files_.push_back(
      write_whole_file(directory_, counts_file_name(field), counts.data(), counts.size_bytes()));
}

void CacheWriter::finish() {
  if (finished_) throw InvalidArgument("data cache: finish() called twice");
  if (static_cast<Index>(count_files_.size()) != meta_.num_fields()) {
    throw InvalidArgument("data cache: write_counts() is needed for every field before finish()");
  }
  finished_ = true;
  if (part_start_ != meta_.rows || meta_.parts.empty()) end_part("rows");
  for (auto& c : columns_) meta_.files.push_back(c->close());
  meta_.files.insert(meta_.files.end(), count_files_.begin(), count_files_.end());

  // meta.bin is the cache's commit record: written last, and atomically, so a cache whose
  // preparation was killed has no meta.bin (the constructor removed the old one) and is never
  // read as complete.
  write_file_atomically(directory_ + "/meta.bin", [this](std::ostream& stream) {
    Writer out(stream);
    out.pod(kCacheMagic);
    out.pod(kCacheVersion);
    out.pod<std::uint64_t>(meta_.rows);
    out.pod(static_cast<std::uint32_t>(meta_.num_dense));
    out.pod(static_cast<std::uint32_t>(meta_.num_fields()));
    out.pod(static_cast<std::uint8_t>(meta_.has_labels));
    out.pod(meta_.min_count);
    out.pod(static_cast<std::uint8_t>(meta_.id_order));
    for (const CacheField& f : meta_.fields) {
      out.pod(f.cardinality);
      out.pod(f.id_bytes);
      out.pod(static_cast<std::uint8_t>(f.has_oov));
    }
    out.pod(static_cast<std::uint32_t>(meta_.parts.size()));
    for (const CachePart& p : meta_.parts) {
      out.string(p.source);
      out.pod(p.rows);
    }
    out.pod(static_cast<std::uint32_t>(meta_.files.size()));
    for (const CacheFile& f : meta_.files) {
      out.string(f.name);
      out.pod(f.bytes);
      out.pod(f.checksum);
    }
    out.finish();
  });
}

// ---------------------------------------------------------------------------------------------

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw DataError("data cache: cannot open '" + path + "': " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    throw DataError("data cache: cannot stat '" + path + "'");
  }
  size_ = static_cast<std::size_t>(info.st_size);
  if (size_ > 0) {
    void* map = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      throw DataError("data cache: cannot mmap '" + path + "': " + std::strerror(errno));
    }
    data_ = static_cast<const unsigned char*>(map);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

namespace {

// Bounds of meta.bin's counts: rows x (num_dense x 4 or 8 bytes) and cardinality x 8 bytes stay
// far below 2^64, so no column size computed from them can wrap around.
constexpr std::uint64_t kMaxCacheRows = std::uint64_t{1} << 40;
constexpr Index kMaxCacheDense = Index{1} << 16;
constexpr Index kMaxCacheCardinality = Index{1} << 40;

CacheMeta read_meta(const std::string& directory) {
  const std::string path = directory + "/meta.bin";
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw DataError("not a data cache: '" + path + "' is missing");
  CacheMeta meta;
  try {
    Reader in(stream);
    if (in.pod<std::uint64_t>() != kCacheMagic) {
      throw DataError("not a data cache: '" + path + "' is a foreign file (wrong magic)");
    }
    const auto version = in.pod<std::uint32_t>();
    if (version != kCacheVersion) {
      throw DataError("data cache '" + path + "' has version " + std::to_string(version) +
                      "; this build reads version " + std::to_string(kCacheVersion));
    }
    meta.rows = in.pod<std::uint64_t>();
    meta.num_dense = in.pod<std::uint32_t>();
    const auto fields = in.pod<std::uint32_t>();
    if (fields > 100000) throw DataError("data cache '" + path + "' is damaged (field count)");
    meta.has_labels = in.pod<std::uint8_t>() != 0;
    meta.min_count = in.pod<std::int64_t>();
    const auto id_order = in.pod<std::uint8_t>();
    if (id_order > static_cast<std::uint8_t>(IdOrder::first_seen)) {
      throw DataError("data cache '" + path + "' is damaged (id order)");
    }
    meta.id_order = static_cast<IdOrder>(id_order);
    // Column sizes are products of these counts: bounded so that they cannot overflow.
    if (meta.rows > kMaxCacheRows || meta.num_dense > kMaxCacheDense) {
      throw DataError("data cache '" + path + "' is damaged (" + std::to_string(meta.rows) +
                      " rows of " + std::to_string(meta.num_dense) + " dense features)");
    }
    meta.fields.resize(fields);
    for (CacheField& f : meta.fields) {
      f.cardinality = in.pod<Index>();
      f.id_bytes = in.pod<std::uint8_t>();
      f.has_oov = in.pod<std::uint8_t>() != 0;
      if (f.id_bytes != 4 && f.id_bytes != 8) {
        throw DataError("data cache '" + path + "' is damaged (id width)");
      }
      if (f.cardinality < 0 || f.cardinality > kMaxCacheCardinality) {
        throw DataError("data cache '" + path + "' is damaged (cardinality " +
                        std::to_string(f.cardinality) + ")");
      }
    }
    const auto parts = in.pod<std::uint32_t>();
    for (std::uint32_t p = 0; p < parts && p < 1000000; ++p) {
      CachePart part;
      part.source = in.string();
      part.rows = in.pod<std::uint64_t>();
      meta.parts.push_back(std::move(part));
    }
    std::uint64_t part_rows = 0;  // the parts' rows add up to the cache's, without wrapping
    bool parts_fit = true;
    for (const CachePart& part : meta.parts) {
      parts_fit = parts_fit && part.rows <= meta.rows - part_rows;
      if (parts_fit) part_rows += part.rows;
    }
    if (!parts_fit || part_rows != meta.rows) {
      throw DataError("data cache '" + path + "' is damaged: its parts do not add up to its " +
                      std::to_string(meta.rows) + " rows");
    }
    const auto files = in.pod<std::uint32_t>();
    for (std::uint32_t i = 0; i < files && i < 1000000; ++i) {
      CacheFile file;
      file.name = in.string(4096);
      // A column file lies in the cache directory: a name with a path separator is foreign.
      if (file.name.empty() || file.name.find('/') != std::string::npos) {
        throw DataError("data cache '" + path + "' is damaged (column file name '" +
                        file.name.substr(0, 64) + "')");
      }
      file.bytes = in.pod<std::uint64_t>();
      file.checksum = in.pod<std::uint64_t>();
      meta.files.push_back(std::move(file));
    }
    in.finish();
  } catch (const CheckpointError& e) {
    throw DataError("data cache '" + path + "' is unreadable: " + e.what());
  }
  return meta;
}

/// Maps `name` and checks its size against the metadata.
MappedFile map_column(const std::string& directory, const CacheMeta& meta, const std::string& name,
                      std::uint64_t expected_bytes) {
  const CacheFile* listed = nullptr;
  for (const CacheFile& f : meta.files) {
    if (f.name == name) listed = &f;
  }
  const std::string path = directory + "/" + name;
  if (listed == nullptr || listed->bytes != expected_bytes) {
    throw DataError("data cache '" + directory + "' is damaged: metadata of '" + name +
                    "' does not match its shape");
  }
  MappedFile file(path);
  if (file.size() != expected_bytes) {
    throw DataError("data cache file '" + path + "' is truncated or damaged: " +
                    std::to_string(file.size()) + " bytes, expected " +
                    std::to_string(expected_bytes));
  }
  return file;
}

}  // namespace

CacheReader::CacheReader(std::string directory)
    : directory_(std::move(directory)), meta_(read_meta(directory_)) {
  const std::uint64_t rows = meta_.rows;
  labels_ = map_column(directory_, meta_, "labels.f32", rows * sizeof(float));
  dense_ = map_column(directory_, meta_, "dense.f32",
                      rows * static_cast<std::uint64_t>(meta_.num_dense) * sizeof(float));
  for (Index f = 0; f < meta_.num_fields(); ++f) {
    const CacheField& field = meta_.fields[static_cast<std::size_t>(f)];
    ids_.push_back(map_column(directory_, meta_, ids_file_name(f, field.id_bytes), rows * field.id_bytes));
    counts_.push_back(map_column(directory_, meta_, counts_file_name(f),
                                 static_cast<std::uint64_t>(field.cardinality) * sizeof(std::uint64_t)));
  }
}

void CacheReader::copy_row(std::uint64_t row, Index slot, Batch& out) const {
  std::memcpy(&out.labels[static_cast<std::size_t>(slot)], labels_.data() + row * sizeof(float),
              sizeof(float));
  const auto dense_bytes = static_cast<std::size_t>(meta_.num_dense) * sizeof(float);
  if (dense_bytes > 0) {
    std::memcpy(out.dense.data() + slot * meta_.num_dense, dense_.data() + row * dense_bytes,
                dense_bytes);
  }
  const Index fields = meta_.num_fields();
  for (Index f = 0; f < fields; ++f) {
    const std::uint8_t width = meta_.fields[static_cast<std::size_t>(f)].id_bytes;
    const unsigned char* at = ids_[static_cast<std::size_t>(f)].data() + row * width;
    Index id = 0;
    if (width == 4) {
      std::int32_t narrow = 0;
      std::memcpy(&narrow, at, sizeof(narrow));
      id = narrow;
    } else {
      std::memcpy(&id, at, sizeof(id));
    }
    out.ids[static_cast<std::size_t>(slot * fields + f)] = id;
  }
}

void CacheReader::read_range(std::uint64_t first, Index count, Batch& out) const {
  if (count < 0 || first + static_cast<std::uint64_t>(count) > meta_.rows) {
    throw InvalidArgument("data cache: rows [" + std::to_string(first) + ", +" +
                          std::to_string(count) + ") exceed the " + std::to_string(meta_.rows) +
                          " rows of '" + directory_ + "'");
  }
  out.resize(count, meta_.num_dense, meta_.num_fields());
  for (Index i = 0; i < count; ++i) copy_row(first + static_cast<std::uint64_t>(i), i, out);
}

void CacheReader::read_rows(std::span<const Index> rows, Batch& out) const {
  out.resize(static_cast<Index>(rows.size()), meta_.num_dense, meta_.num_fields());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || static_cast<std::uint64_t>(rows[i]) >= meta_.rows) {
      throw InvalidArgument("data cache: row " + std::to_string(rows[i]) + " is outside [0, " +
                            std::to_string(meta_.rows) + ")");
    }
    copy_row(static_cast<std::uint64_t>(rows[i]), static_cast<Index>(i), out);
  }
}

std::span<const std::uint64_t> CacheReader::counts(Index field) const {
  if (field < 0 || field >= meta_.num_fields()) {
    throw InvalidArgument("data cache: no field " + std::to_string(field));
  }
  const MappedFile& file = counts_[static_cast<std::size_t>(field)];
  return {reinterpret_cast<const std::uint64_t*>(file.data()), file.size() / sizeof(std::uint64_t)};
}

void CacheReader::verify_checksums() const {
  for (const CacheFile& f : meta_.files) {
    const MappedFile file(directory_ + "/" + f.name);
    if (file.size() != f.bytes || XXH64(file.data(), file.size(), 0) != f.checksum) {
      throw DataError("data cache file '" + directory_ + "/" + f.name +
                      "' is damaged: its checksum does not match the metadata");
    }
  }
}

}  // namespace embcomp
