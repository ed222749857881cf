// The sweep's grid (src/cli/sweep_grid.hpp): which cells run in which order, the variants of a
// method entry with alternatives, and the cells' directory names. Expected lists are written
// out by hand from the rules at the top of sweep_grid.hpp.
#include <catch2/catch.hpp>

#include <algorithm>

#include "embcomp/core/error.hpp"
#include "embcomp/registry.hpp"
#include "sweep_grid.hpp"

using namespace embcomp;
using namespace embcomp::cli;

namespace {

/// "model method ratio [skipped] [smallest]" per cell: one string to compare whole grids.
std::vector<std::string> describe(const std::vector<Cell>& cells) {
  std::vector<std::string> lines;
  for (const Cell& c : cells) {
    lines.push_back(c.model + ' ' + c.method + ' ' + std::to_string(static_cast<int>(c.ratio)) +
                    (c.skipped ? " skipped" : "") + (c.smallest ? " smallest" : ""));
  }
  return lines;
}

}  // namespace

TEST_CASE("sweep grid: full once per model at 1x, every other method at each ratio ascending",
          "[cli][sweep]") {
  SweepGrid grid;
  grid.methods = {"full", "hash", "qr:op=mul/add"};
  grid.ratios = {100, 10};
  grid.models = {"dlrm", "wdl"};
  const std::vector<std::string> expected = {"dlrm full 1",
                                             "dlrm hash 10 smallest",
                                             "dlrm hash 100",
                                             "dlrm qr:op=mul/add 10 smallest",
                                             "dlrm qr:op=mul/add 100",
                                             "wdl full 1",
                                             "wdl hash 10 smallest",
                                             "wdl hash 100",
                                             "wdl qr:op=mul/add 10 smallest",
                                             "wdl qr:op=mul/add 100"};
  CHECK(describe(expand_grid(grid)) == expected);
}

TEST_CASE(
    "sweep grid: the default grid skips only the slow cells, the full grid runs them at 2x too",
    "[cli][sweep]") {
  const std::size_t n = methods().size();  // the registry's, `full` included
  const SweepGrid default_grid;            // every method at 10, 100, 1000, 10000
  const std::vector<Cell> cells = expand_grid(default_grid);
  REQUIRE(cells.size() == 1 + (n - 1) * kDefaultRatios.size());
  std::vector<std::string> skipped;
  for (const Cell& c : cells) {
    if (c.skipped) skipped.push_back(c.method + ' ' + std::to_string(static_cast<int>(c.ratio)));
  }
  // dhe at 2x is not in the default grid.
  CHECK(skipped ==
        std::vector<std::string>{"dhe 10", "optembed 10", "optembed 1000", "optembed 10000"});

  SweepGrid full_grid;
  full_grid.full_grid = true;
  const std::vector<Cell> full = expand_grid(full_grid);
  CHECK(full.size() == 1 + (n - 1) * kFullGridRatios.size());
  CHECK(std::none_of(full.begin(), full.end(), [](const Cell& c) { return c.skipped; }));
  CHECK(std::count_if(full.begin(), full.end(), [](const Cell& c) { return c.ratio == 2.0; }) ==
        static_cast<std::ptrdiff_t>(n - 1));
  // The report's columns are the ratios the grid trains at (2x included under --full-grid).
  CHECK(grid_ratios(default_grid) == kDefaultRatios);
  CHECK(grid_ratios(full_grid) == kFullGridRatios);

  // Ratios given on the command line stay as given under --full-grid; a named method is never
  // skipped.
  SweepGrid named;
  named.methods = {"dhe"};
  named.ratios = {1000, 10};
  named.full_grid = true;
  CHECK(describe(expand_grid(named)) ==
        std::vector<std::string>{"dlrm dhe 10 smallest", "dlrm dhe 1000"});
  named.full_grid = false;
  CHECK(describe(expand_grid(named)) ==
        std::vector<std::string>{"dlrm dhe 10 smallest", "dlrm dhe 1000"});
}

TEST_CASE("sweep slow cells: dhe at 2x and 10x, optembed at all but 100x, only", "[cli][sweep]") {
  CHECK(slow_cell("dhe", 2.0));
  CHECK(slow_cell("dhe", 10.0));
  CHECK_FALSE(slow_cell("dhe", 100.0));
  CHECK(slow_cell("optembed", 10.0));
  CHECK(slow_cell("optembed", 1000.0));
  CHECK(slow_cell("optembed", 10000.0));
  CHECK_FALSE(slow_cell("optembed", 100.0));
  CHECK_FALSE(slow_cell("hash", 10.0));
}

TEST_CASE("sweep method keys: the spec's key, full the baseline", "[cli][sweep]") {
  CHECK(method_key("qr:op=mul/add") == "qr");
  CHECK(method_key("hash") == "hash");
  CHECK(is_baseline("full"));
  CHECK(is_baseline("full:"));
  CHECK_FALSE(is_baseline("fullish"));
}

TEST_CASE("sweep alternatives: '/' separates values, empty ones kept", "[cli][sweep]") {
  CHECK(split_alternatives("auto/0.5/0.7") == std::vector<std::string>{"auto", "0.5", "0.7"});
  CHECK(split_alternatives("shared") == std::vector<std::string>{"shared"});
  CHECK(split_alternatives("") == std::vector<std::string>{""});
  CHECK(split_alternatives("a/") == std::vector<std::string>{"a", ""});
  CHECK(split_alternatives("/") == std::vector<std::string>{"", ""});
}

TEST_CASE("sweep alternatives: one spec per combination, the first option varying slowest",
          "[cli][sweep]") {
  CHECK(expand_alternatives("cafe:hash_share=auto/0.5/0.7,hash_tables=shared") ==
        std::vector<std::string>{"cafe:hash_share=auto,hash_tables=shared",
                                 "cafe:hash_share=0.5,hash_tables=shared",
                                 "cafe:hash_share=0.7,hash_tables=shared"});
  CHECK(expand_alternatives("qr:op=mul/add,threshold=0/500") ==
        std::vector<std::string>{"qr:op=mul,threshold=0", "qr:op=mul,threshold=500",
                                 "qr:op=add,threshold=0", "qr:op=add,threshold=500"});
  CHECK(expand_alternatives("hash:tables=per_field/shared") ==
        std::vector<std::string>{"hash:tables=per_field", "hash:tables=shared"});
}

TEST_CASE("sweep alternatives: an entry without any comes back as given", "[cli][sweep]") {
  CHECK(expand_alternatives("hash") == std::vector<std::string>{"hash"});
  CHECK(expand_alternatives("hash:") == std::vector<std::string>{"hash:"});
  CHECK(expand_alternatives("hash:tables=shared,seed=3") ==
        std::vector<std::string>{"hash:tables=shared,seed=3"});
}

TEST_CASE("sweep alternatives: a malformed entry is parse_option_pairs' error", "[cli][sweep]") {
  CHECK_THROWS_WITH(expand_alternatives("qr:op"),
                    Catch::Contains("method 'qr'") && Catch::Contains("name=value"));
  CHECK_THROWS_WITH(expand_alternatives("qr:=mul/add"), Catch::Contains("name=value"));
  CHECK_THROWS_AS(expand_alternatives(":op=mul"), InvalidArgument);
}

TEST_CASE("sweep cell names: the spec's punctuation becomes '-'", "[cli][sweep]") {
  CHECK(cell_name({"dlrm", "hash:tables=per_field/shared", 2.0}) ==
        "dlrm_hash-tables-per_field-shared_2x");  // the directory sweep_smoke.cmake reads
  CHECK(cell_name({"wdl", "full", 1.0}) == "wdl_full_1x");
  CHECK(cell_name({"dcn", "qr:op=mul,threshold=0", 10000.0}) == "dcn_qr-op-mul-threshold-0_10000x");
}
