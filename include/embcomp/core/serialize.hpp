// Binary writer and reader for checkpoints. Both keep a running XXH64 of every byte so that a
// file ends with a checksum of its whole content; the reader reports truncation with offsets.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <type_traits>

#define XXH_STATIC_LINKING_ONLY  // XXH64_state_t by value
#include <xxhash.h>

#include "embcomp/core/error.hpp"

namespace embcomp {

class Writer {
 public:
  explicit Writer(std::ostream& out) : out_(out) { XXH64_reset(&hash_, 0); }

  void bytes(const void* data, std::size_t n) {
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    if (!out_) throw CheckpointError("checkpoint: write failed after " + std::to_string(offset_) +
                                     " bytes (disk full or stream closed?)");
    XXH64_update(&hash_, data, n);
    offset_ += n;
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void pod(const T& value) {
    bytes(&value, sizeof(T));
  }
  void string(const std::string& s) {
    pod<std::uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  /// Writes the hash of everything so far, e.g. after a header, so that a reader can trust the
  /// header before acting on it. The digest itself is hashed too.
  void digest() { pod(XXH64_digest(&hash_)); }
  /// Writes the checksum of everything written so far (not itself hashed).
  void finish() {
    const std::uint64_t sum = XXH64_digest(&hash_);
    out_.write(reinterpret_cast<const char*>(&sum), sizeof(sum));
    out_.flush();
    if (!out_) throw CheckpointError("checkpoint: writing the checksum failed");
  }

 private:
  std::ostream& out_;
  XXH64_state_t hash_{};
  std::uint64_t offset_ = 0;
};

class Reader {
 public:
  explicit Reader(std::istream& in) : in_(in) { XXH64_reset(&hash_, 0); }

  void bytes(void* data, std::size_t n) {
    in_.read(static_cast<char*>(data), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(in_.gcount()) != n) {
      throw CheckpointError("checkpoint truncated: needed " + std::to_string(n) +
                            " bytes at offset " + std::to_string(offset_) + ", found " +
                            std::to_string(in_.gcount()));
    }
    XXH64_update(&hash_, data, n);
    offset_ += n;
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  T pod() {
    T value;
    bytes(&value, sizeof(T));
    return value;
  }
  /// Reads a length-prefixed string, refusing lengths above `max_length` (a damaged length
  /// field must not trigger a huge allocation).
  std::string string(std::size_t max_length = 1 << 20) {
    const auto n = pod<std::uint64_t>();
    if (n > max_length) {
      throw CheckpointError("checkpoint damaged: string of " + std::to_string(n) +
                            " bytes at offset " + std::to_string(offset_) + " exceeds " +
                            std::to_string(max_length));
    }
    std::string s(n, '\0');
    bytes(s.data(), n);
    return s;
  }
  /// Reads a digest() and compares it with the hash of everything read before it.
  void verify_digest(const std::string& what) {
    const std::uint64_t expected = XXH64_digest(&hash_);
    if (pod<std::uint64_t>() != expected) {
      throw CheckpointError("checkpoint damaged: the " + what + " checksum does not match");
    }
  }
  /// Reads the trailing checksum and compares it with the hash of everything read.
  void finish() {
    const std::uint64_t expected = XXH64_digest(&hash_);
    std::uint64_t stored = 0;
    in_.read(reinterpret_cast<char*>(&stored), sizeof(stored));
    if (in_.gcount() != sizeof(stored)) {
      throw CheckpointError("checkpoint truncated: the checksum at offset " +
                            std::to_string(offset_) + " is missing");
    }
    if (stored != expected) {
      throw CheckpointError("checkpoint damaged: checksum mismatch (the file was modified or "
                            "corrupted after it was written)");
    }
  }
  std::uint64_t offset() const { return offset_; }
  /// Bytes the stream holds after what was read, or UINT64_MAX when it cannot tell (not
  /// seekable). A loader compares a stored size with it before allocating for that size, so
  /// that a damaged or forged size is refused instead of exhausting memory.
  std::uint64_t bytes_left() {
    const std::streampos here = in_.tellg();
    if (here == std::streampos(-1)) {
      in_.clear();
      return UINT64_MAX;
    }
    in_.seekg(0, std::ios::end);
    const std::streampos end = in_.tellg();
    in_.clear();
    in_.seekg(here);
    if (end == std::streampos(-1) || !in_ || end < here) {
      in_.clear();
      return UINT64_MAX;
    }
    return static_cast<std::uint64_t>(end - here);
  }

 private:
  std::istream& in_;
  XXH64_state_t hash_{};
  std::uint64_t offset_ = 0;
};

/// Reads a value and throws a CheckpointError naming `what` unless it equals `expected`.
template <class T>
void expect_equal(Reader& in, const T& expected, const std::string& what) {
  const T found = in.pod<T>();
  if (found != expected) {
    throw CheckpointError("checkpoint does not match this table: " + what + " is " +
                          std::to_string(found) + " in the file, " + std::to_string(expected) +
                          " here");
  }
}

}  // namespace embcomp
