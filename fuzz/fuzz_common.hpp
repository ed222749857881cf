// Helpers shared by the fuzz entry points (fuzz/<name>_entry.hpp): a per-process scratch
// directory, whole-file writes, little-endian field access and the checksum fix-ups that let
// mutated checkpoints and caches get past their XXH64 checks to the parsing behind them.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "embcomp/core/error.hpp"

namespace embcomp::fuzz {

/// Aborts with a message: a fuzz target's own invariant check failed (a finding).
[[noreturn]] inline void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
  std::abort();
}
#define EMBCOMP_FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::embcomp::fuzz::invariant_failed(#cond, __FILE__, __LINE__))

/// A directory under the system temp folder, unique to this process and `name`, removed at exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    path_ = std::filesystem::temp_directory_path() /
            ("embcomp_fuzz_" + name + "_" + std::to_string(static_cast<long long>(::getpid())));
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string path() const { return path_.string(); }
  std::string path(const std::string& file) const { return (path_ / file).string(); }
  /// Removes everything inside (the directory itself stays).
  void clear() const {
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(path_, ignored)) {
      std::filesystem::remove_all(entry.path(), ignored);
    }
  }

 private:
  std::filesystem::path path_;
};

/// Writes `size` bytes to `path` (truncating); aborts if the scratch file cannot be written,
/// since that is the harness's failure, not the library's.
inline void write_file(const std::string& path, const void* data, std::size_t size) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) invariant_failed("cannot create a scratch file", __FILE__, __LINE__);
  if (size > 0 && std::fwrite(data, 1, size, file) != size) {
    invariant_failed("cannot write a scratch file", __FILE__, __LINE__);
  }
  std::fclose(file);
}

/// A little-endian reader over input bytes that never throws: ok() turns false past the end.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  template <class T>
  T pod() {
    T value{};
    if (size_ - at_ < sizeof(T)) {
      ok_ = false;
      at_ = size_;
      return value;
    }
    std::memcpy(&value, data_ + at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }
  /// Skips a length-prefixed string (u64 length) of at most `max_length` bytes.
  std::string_view string(std::uint64_t max_length) {
    const auto n = pod<std::uint64_t>();
    if (!ok_ || n > max_length || n > size_ - at_) {
      ok_ = false;
      at_ = size_;
      return {};
    }
    const std::string_view s(reinterpret_cast<const char*>(data_ + at_), static_cast<std::size_t>(n));
    at_ += static_cast<std::size_t>(n);
    return s;
  }
  void skip(std::uint64_t n) {
    if (n > size_ - at_) {
      ok_ = false;
      at_ = size_;
      return;
    }
    at_ += static_cast<std::size_t>(n);
  }
  bool ok() const { return ok_; }
  std::size_t offset() const { return at_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

/// Replaces the u64 at `offset` by the XXH64 of the bytes before it (a Writer::digest() or
/// the trailing Writer::finish() checksum). Does nothing when it does not fit.
inline void fix_digest(std::string& bytes, std::size_t offset) {
  if (offset + sizeof(std::uint64_t) > bytes.size()) return;
  const std::uint64_t sum = XXH64(bytes.data(), offset, 0);
  std::memcpy(bytes.data() + offset, &sum, sizeof sum);
}

/// Replaces the last 8 bytes by the XXH64 of everything before them.
inline void fix_trailing_checksum(std::string& bytes) {
  if (bytes.size() < sizeof(std::uint64_t)) return;
  fix_digest(bytes, bytes.size() - sizeof(std::uint64_t));
}

/// Skips the table identity of src/checkpoint_format.hpp (string spec | u64 F | i64 n_f x F |
/// i64 dim | f64 ratio | u64 seed); returns the spec (empty when it did not parse).
inline std::string_view skip_table_identity(Cursor& in) {
  const std::string_view spec = in.string(4096);
  const auto fields = in.pod<std::uint64_t>();
  if (!in.ok() || fields > (std::uint64_t{1} << 20)) {
    in.skip(~std::uint64_t{0});
    return {};
  }
  in.skip(fields * 8);
  in.skip(8 + 8 + 8);
  return spec;
}

/// Runs `run` on the input as a libFuzzer entry does: a project error (embcomp::Error) is an
/// expected outcome of bad bytes; anything else (another exception, a crash) escapes as a finding.
template <class Run>
int expecting_project_errors(Run run, const std::uint8_t* data, std::size_t size) {
  try {
    run(data, size);
  } catch (const embcomp::Error&) {
  }
  return 0;
}

}  // namespace embcomp::fuzz
