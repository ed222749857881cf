// Checkpoints: truncated, bit-flipped, foreign and newer-version files give clear errors.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support.hpp"

using namespace embcomp;
using namespace embcomp::test;

namespace {

std::string saved_bytes(const EmbeddingTable& table) {
  std::stringstream out;
  table.save(out);
  return out.str();
}

std::unique_ptr<EmbeddingTable> load_bytes(const std::string& bytes) {
  std::stringstream in(bytes);
  return load_table(in);
}

}  // namespace

TEST_CASE("a checkpoint round-trips through a file", "[core][checkpoint]") {
  auto table = make_table("hash:tables=per_field", {small_schema(), Budget{4}, 9});
  const auto path = (std::filesystem::temp_directory_path() / "embcomp_checkpoint_test.bin").string();
  table->save(path);
  auto loaded = load_table(path);
  std::filesystem::remove(path);
  const auto ids = random_ids(table->schema(), 20, 1);
  CHECK(lookup(*loaded, ids) == lookup(*table, ids));
  CHECK(loaded->spec() == table->spec());
  CHECK(loaded->seed() == 9);
  CHECK(loaded->budget().ratio == 4);
}

TEST_CASE("a truncated checkpoint is a clear error at any cut", "[core][checkpoint]") {
  auto table = make_table("int8", {small_schema(), Budget{2}, 1});
  const std::string bytes = saved_bytes(*table);
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    INFO("cut at " << cut << " of " << bytes.size());
    CHECK_THROWS_AS(load_bytes(bytes.substr(0, cut)), CheckpointError);
  }
  CHECK_THROWS_WITH(load_bytes(bytes.substr(0, bytes.size() / 2)), Catch::Contains("truncated"));
}

TEST_CASE("a flipped bit anywhere is detected", "[core][checkpoint]") {
  auto table = make_table("hash", {small_schema(), Budget{8}, 1});
  const std::string bytes = saved_bytes(*table);
  for (std::size_t at = 0; at < bytes.size(); at += std::max<std::size_t>(1, bytes.size() / 97)) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
    INFO("bit flipped in byte " << at);
    CHECK_THROWS_AS(load_bytes(damaged), CheckpointError);
  }
}

TEST_CASE("foreign files, newer versions and missing files are refused", "[core][checkpoint]") {
  CHECK_THROWS_WITH(load_bytes("PK\x03\x04 this is a zip file, not a checkpoint"),
                    Catch::Contains("not an embcomp checkpoint"));
  CHECK_THROWS_WITH(load_bytes(""), Catch::Contains("truncated"));
  auto table = make_table("full", {small_schema(), Budget{1}, 1});
  std::string bytes = saved_bytes(*table);
  bytes[8] = 9;  // format version 9
  CHECK_THROWS_WITH(load_bytes(bytes), Catch::Contains("format version 9"));
  CHECK_THROWS_WITH(load_table("/nonexistent/embcomp.ckpt"), Catch::Contains("cannot open"));
}

TEST_CASE("a valid file naming an unknown method is refused", "[core][checkpoint]") {
  // Rewrite the spec of a valid file: header digest and checksum are recomputed by saving a
  // table whose spec names no registered method.
  auto table = make_table("full", {small_schema(), Budget{1}, 1});
  table->set_spec("nosuchmethod");
  CHECK_THROWS_WITH(load_bytes(saved_bytes(*table)), Catch::Contains("unknown method 'nosuchmethod'"));
}

TEST_CASE("checkpoints at extreme ratios load", "[core][checkpoint]") {
  // 2 x 10^7 ids of dim 16 (1.28 GB uncompressed) at 10^6x: a 1.3 kB table, legitimately
  // 10^6 times smaller than its schema (hash and robe reach such ratios).
  const Schema huge{{10'000'000, 10'000'000}, 16};
  for (const char* spec : {"hash", "robe"}) {
    INFO(spec);
    auto table = make_table(spec, {huge, Budget{1e6}, 3});
    auto loaded = load_bytes(saved_bytes(*table));
    const std::vector<Index> ids = {9'999'999, 123};
    CHECK(lookup(*loaded, ids) == lookup(*table, ids));
  }
  // A trainable method that trains the full table first (deeplight) stores it and loads; a
  // header naming one with a few bytes of state (a forged ratio) is refused before anything is
  // allocated: the fuzz regression table_checkpoint/deeplight_huge_schema ([fuzz]).
  auto deeplight = make_table("deeplight", {small_schema(), Budget{100}, 3});
  CHECK_NOTHROW(load_bytes(saved_bytes(*deeplight)));
}
