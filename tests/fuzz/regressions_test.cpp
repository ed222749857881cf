// Replays the inputs the fuzz targets (fuzz/) once crashed on: each must now be refused with a
// clear project error (an embcomp::Error with a message), never a crash. The seed corpora are
// replayed too, through the same entry functions as the fuzz targets.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "cache_loader_entry.hpp"
#include "factory_spec_entry.hpp"
#include "table_checkpoint_entry.hpp"
#include "text_reader_entry.hpp"
#include "training_checkpoint_entry.hpp"

namespace {

namespace fs = std::filesystem;

struct Target {
  std::string name;
  std::function<void(const std::uint8_t*, std::size_t)> run;  ///< throws project errors
  std::function<int(const std::uint8_t*, std::size_t)> fuzz;  ///< the libFuzzer entry
};

std::vector<Target> targets() {
  return {{"text_reader", embcomp::fuzz::run_text_reader, fuzz_text_reader},
          {"cache_loader", embcomp::fuzz::run_cache_loader, fuzz_cache_loader},
          {"table_checkpoint", embcomp::fuzz::run_table_checkpoint, fuzz_table_checkpoint},
          {"training_checkpoint", embcomp::fuzz::run_training_checkpoint, fuzz_training_checkpoint},
          {"factory_spec", embcomp::fuzz::run_factory_spec, fuzz_factory_spec}};
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  return files;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::uint8_t* bytes_of(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

}  // namespace

TEST_CASE("fuzz regressions are refused with a clear project error", "[fuzz]") {
  const fs::path root = EMBCOMP_FUZZ_DIR "/regressions";
  REQUIRE(fs::is_directory(root));
  std::size_t replayed = 0;
  for (const Target& target : targets()) {
    for (const fs::path& file : files_in(root / target.name)) {
      INFO(target.name << ": " << file.string());
      const std::string input = read_bytes(file);
      std::string message;
      try {
        target.run(bytes_of(input), input.size());
      } catch (const embcomp::Error& e) {
        message = e.what();
      }
      CHECK_FALSE(message.empty());
      CHECK(target.fuzz(bytes_of(input), input.size()) == 0);
      ++replayed;
    }
  }
  CHECK(replayed > 0);
}

TEST_CASE("fuzz seed corpora replay without a crash", "[fuzz]") {
  const fs::path root = EMBCOMP_FUZZ_DIR "/corpus";
  for (const Target& target : targets()) {
    const std::vector<fs::path> files = files_in(root / target.name);
    INFO(target.name);
    CHECK_FALSE(files.empty());
    for (const fs::path& file : files) {
      INFO(file.string());
      const std::string input = read_bytes(file);
      CHECK(target.fuzz(bytes_of(input), input.size()) == 0);
    }
  }
}
