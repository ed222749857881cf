#include "embcomp/core/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <ostream>
#include <streambuf>
#include <string>

#include "embcomp/core/error.hpp"

namespace embcomp {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int error) {
  throw Error(what + " '" + path + "': " + std::strerror(error));
}

/// fsync of the directory at `path`: makes a rename inside it durable.
void sync_directory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (fd < 0) fail("cannot open for syncing", path, errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) fail("cannot sync", path, error);
}

/// Bytes after which this write kills the process (EMBCOMP_FAULT_KILL_*), or -1.
long long fault_kill_offset(const std::string& path) {
  const char* file = std::getenv("EMBCOMP_FAULT_KILL_FILE");
  const char* at = std::getenv("EMBCOMP_FAULT_KILL_AT");
  if (file == nullptr || at == nullptr || path != file) return -1;
  static std::mutex mutex;
  static std::map<std::string, long long> writes;
  const std::lock_guard lock(mutex);
  const long long n = ++writes[path];
  char* end = nullptr;
  const long long wanted = std::strtoll(at, &end, 10);
  if (end == nullptr || *end != ',') throw InvalidArgument("EMBCOMP_FAULT_KILL_AT must be <n>,<byte>");
  return n == wanted ? std::strtoll(end + 1, nullptr, 10) : -1;
}

/// An output stream buffer over a file descriptor (64 KiB buffered) that can fsync what it
/// wrote, and that sends SIGKILL to its own process once `kill_at` bytes reached the file (the
/// fault injection; -1: never), leaving the partial file as a crash would.
class FileSink : public std::streambuf {
 public:
  FileSink(const std::string& path, long long kill_at) : path_(path), kill_at_(kill_at) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot open for writing", path, errno);
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    if (kill_at_ == 0) ::kill(::getpid(), SIGKILL);
  }
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
  }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  /// Writes out the buffer, syncs the file to disk and closes it; throws Error on failure.
  void commit() {
    if (drain() != 0) fail("cannot write", path_, error_);
    if (::fsync(fd_) != 0) fail("cannot sync", path_, errno);
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) fail("cannot close", path_, errno);
  }

 protected:
  int_type overflow(int_type c) override {
    if (drain() != 0) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain(); }

 private:
  /// Writes the buffered bytes; 0 on success.
  int drain() {
    const char* data = pbase();
    auto left = static_cast<long long>(pptr() - pbase());
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    if (error_ != 0) return -1;
    while (left > 0) {
      long long chunk = left;
      const bool dies = kill_at_ >= 0 && written_ + chunk >= kill_at_;
      if (dies) chunk = kill_at_ - written_;
      while (chunk > 0) {
        const ssize_t n = ::write(fd_, data, static_cast<std::size_t>(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          error_ = n < 0 ? errno : EIO;
          return -1;
        }
        data += n;
        chunk -= n;
        left -= n;
        written_ += n;
      }
      if (dies) ::kill(::getpid(), SIGKILL);
    }
    return 0;
  }

  std::string path_;
  long long kill_at_;
  int fd_ = -1;
  int error_ = 0;
  long long written_ = 0;
  std::array<char, 1 << 16> buffer_{};
};

void write_temporary(const std::string& tmp, long long kill_at,
                     const std::function<void(std::ostream&)>& write) {
  FileSink sink(tmp, kill_at);
  std::ostream out(&sink);
  write(out);
  out.flush();
  sink.commit();  // a failed write or flush is reported here, with the system's reason
}

}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream&)>& write) {
  const std::string tmp = path + ".tmp";
  const long long kill_at = fault_kill_offset(path);
  try {
    write_temporary(tmp, kill_at, write);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename '" + tmp + "' to", path, errno);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  const std::filesystem::path parent = std::filesystem::absolute(path).parent_path();
  sync_directory(parent.string());
}

}  // namespace embcomp
