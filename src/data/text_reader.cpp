#include "embcomp/data/text_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace embcomp {

namespace {
constexpr std::size_t kMinBufferBytes = std::size_t{1} << 20;
}

LineReader::LineReader(std::string path, std::size_t max_line_bytes)
    : path_(std::move(path)), max_line_bytes_(max_line_bytes) {
  if (max_line_bytes_ == 0) throw InvalidArgument("line reader: max_line_bytes must be >= 1");
  file_ = std::fopen(path_.c_str(), "rb");
  if (file_ == nullptr) {
    throw DataError("cannot open data file '" + path_ + "': " + std::strerror(errno));
  }
  // A line of the maximal length plus "\r\n" always fits, so only overlong lines are split.
  buffer_.resize(std::max(kMinBufferBytes, 2 * (max_line_bytes_ + 2)));
}

LineReader::~LineReader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool LineReader::refill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  const std::size_t got = std::fread(buffer_.data() + end_, 1, buffer_.size() - end_, file_);
  if (got == 0) {
    if (std::ferror(file_)) throw DataError("read error in data file '" + path_ + "'");
    eof_ = true;
    return false;
  }
  end_ += got;
  return true;
}

void LineReader::skip_rest_of_line() {
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const void* newline = std::memchr(start, '\n', end_ - begin_);
    if (newline != nullptr) {
      begin_ = static_cast<std::size_t>(static_cast<const char*>(newline) - buffer_.data()) + 1;
      return;
    }
    begin_ = end_ = 0;
    if (!refill()) return;
  }
}

bool LineReader::next(std::string_view& line, bool& overlong) {
  overlong = false;
  std::size_t scanned = 0;  // bytes after begin_ already known to hold no newline
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const std::size_t available = end_ - begin_;
    const void* newline = std::memchr(start + scanned, '\n', available - scanned);
    if (newline != nullptr) {
      std::size_t length = static_cast<std::size_t>(static_cast<const char*>(newline) - start);
      begin_ += length + 1;
      if (length > 0 && start[length - 1] == '\r') --length;
      ++line_number_;
      overlong = length > max_line_bytes_;
      line = overlong ? std::string_view{} : std::string_view{start, length};
      return true;
    }
    if (available > max_line_bytes_ + 1) {  // no newline within the limit (+ a '\r')
      ++line_number_;
      skip_rest_of_line();
      overlong = true;
      line = {};
      return true;
    }
    scanned = available;
    if (!refill()) {
      if (end_ == begin_) return false;
      // The last line has no newline.
      start = buffer_.data() + begin_;
      std::size_t length = end_ - begin_;
      begin_ = end_;
      if (start[length - 1] == '\r') --length;
      ++line_number_;
      overlong = length > max_line_bytes_;
      line = overlong ? std::string_view{} : std::string_view{start, length};
      return true;
    }
  }
}

void split_fields(std::string_view line, char delimiter, std::vector<std::string_view>& fields) {
  fields.clear();
  std::size_t from = 0;
  for (;;) {
    const void* hit = std::memchr(line.data() + from, delimiter, line.size() - from);
    if (hit == nullptr) {
      fields.push_back(line.substr(from));
      return;
    }
    const auto at = static_cast<std::size_t>(static_cast<const char*>(hit) - line.data());
    fields.push_back(line.substr(from, at - from));
    from = at + 1;
  }
}

const char* to_string(MalformedReason reason) {
  switch (reason) {
    case MalformedReason::field_count: return "wrong field count";
    case MalformedReason::dense_value: return "dense value not numeric";
    case MalformedReason::label_value: return "label not 0/1";
    case MalformedReason::overlong_line: return "line too long";
  }
  return "unknown";
}

std::string MalformedRow::message() const {
  return file + ":" + std::to_string(line) + ": " + to_string(reason) +
         (detail.empty() ? "" : " (" + detail + ")");
}

void ParseReport::add(MalformedRow row) {
  ++malformed;
  ++by_reason[static_cast<std::size_t>(row.reason)];
  if (examples.size() < max_examples) examples.push_back(std::move(row));
}

void ParseReport::merge(const ParseReport& other) {
  rows += other.rows;
  malformed += other.malformed;
  for (std::size_t r = 0; r < by_reason.size(); ++r) by_reason[r] += other.by_reason[r];
  for (const MalformedRow& row : other.examples) {
    if (examples.size() >= max_examples) break;
    examples.push_back(row);
  }
}

std::string ParseReport::summary() const {
  std::string text = std::to_string(rows) + " rows parsed, " + std::to_string(malformed) + " malformed";
  for (int r = 0; r < kMalformedReasons; ++r) {
    if (by_reason[static_cast<std::size_t>(r)] == 0) continue;
    text += "; " + std::to_string(by_reason[static_cast<std::size_t>(r)]) + " " +
            to_string(static_cast<MalformedReason>(r));
  }
  for (const MalformedRow& row : examples) text += "\n  " + row.message();
  return text;
}

}  // namespace embcomp
