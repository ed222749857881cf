// write_file_atomically: the new content replaces the old whole, and a write that fails leaves
// the old content and no temporary file. (A process killed mid-write: cli.crash_safe_checkpoint.)
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "data/temp_files.hpp"
#include "embcomp/core/atomic_file.hpp"
#include "embcomp/core/error.hpp"

using namespace embcomp;

namespace {
std::string content_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_CASE("atomic writes replace a file whole, larger than the write buffer", "[core][atomic_file]") {
  const test::TempDir dir("atomic_file");
  const std::string path = dir.write("state.bin", "old");
  const std::string big(300'000, 'x');  // several flushes of the 64 KiB buffer
  write_file_atomically(path, [&](std::ostream& out) { out << big << "end"; });
  CHECK(content_of(path) == big + "end");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("a failed atomic write keeps the old file and removes its temporary", "[core][atomic_file]") {
  const test::TempDir dir("atomic_file_fail");
  const std::string path = dir.write("state.bin", "old");
  CHECK_THROWS_WITH(write_file_atomically(path,
                                          [](std::ostream& out) {
                                            out << std::string(100'000, 'y');
                                            throw std::runtime_error("the writer failed");
                                          }),
                    "the writer failed");
  CHECK(content_of(path) == "old");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  // A directory that does not exist: an Error naming the temporary file, nothing created.
  const std::string missing = dir.path("no/such/dir/state.bin");
  CHECK_THROWS_WITH(write_file_atomically(missing, [](std::ostream& out) { out << "x"; }),
                    Catch::Contains("cannot open for writing") && Catch::Contains("state.bin.tmp"));
}
