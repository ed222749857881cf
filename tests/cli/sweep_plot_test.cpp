// The sweep's plot (src/cli/sweep_plot.hpp) and gnuplot's quoting (src/cli/gnuplot.hpp): the
// data blocks of a model, and a script whose every name survives as one gnuplot string, read
// back by a scanner of gnuplot's single-quote rule (a doubled quote stands for one).
#include <catch2/catch.hpp>

#include "gnuplot.hpp"
#include "sweep_plot.hpp"

using namespace embcomp::cli;

namespace {

/// Every single-quoted string of `script`, decoded by gnuplot's rule, in order. A string left
/// open at the end of a line (gnuplot reads one command per line) fails the test.
std::vector<std::string> gnuplot_strings(const std::string& script) {
  std::vector<std::string> strings;
  bool inside = false;
  std::string current;
  for (std::size_t i = 0; i < script.size(); ++i) {
    const char c = script[i];
    if (c == '\n') {
      REQUIRE_FALSE(inside);
    } else if (!inside && c == '\'') {
      inside = true;
      current.clear();
    } else if (inside && c == '\'' && i + 1 < script.size() && script[i + 1] == '\'') {
      current += '\'';
      ++i;
    } else if (inside && c == '\'') {
      inside = false;
      strings.push_back(current);
    } else if (inside) {
      current += c;
    }
  }
  REQUIRE_FALSE(inside);
  return strings;
}

json ok_record(const std::string& model, const std::string& method, double ratio, double auc) {
  return {
      {"model", model}, {"method", method}, {"status", "ok"}, {"ratio", ratio}, {"test_auc", auc}};
}

}  // namespace

TEST_CASE("gnuplot strings: single-quoted, a quote doubled", "[cli][sweep]") {
  CHECK(gnuplot_string("it's") == "'it''s'");
  CHECK(gnuplot_string("") == "''");
  CHECK(gnuplot_string("''") == "''''''");
  CHECK(gnuplot_string("say \"hi\" \\n") == "'say \"hi\" \\n'");  // no escapes inside '...'
  CHECK(gnuplot_strings("x " + gnuplot_string("a'b''c") + " y\n") ==
        std::vector<std::string>{"a'b''c"});
}

TEST_CASE("sweep plot data: one block per method of the model's ok records, in record order",
          "[cli][sweep]") {
  json records = json::array();
  records.push_back(ok_record("dlrm", "full", 1.0, 0.61));
  records.push_back(ok_record("dlrm", "hash", 10.001, 0.6));
  records.push_back({{"model", "dlrm"}, {"method", "hash"}, {"status", "infeasible"}});
  records.push_back(ok_record("wdl", "hash", 10.0, 0.5));
  records.push_back(ok_record("dlrm", "hash", 101.21, 0.59));
  records.push_back(ok_record("dlrm", "qr:op=mul/add", 10.841, 0.606));
  const AucPlotData plot = auc_plot_data("dlrm", records);
  CHECK(plot.methods == std::vector<std::string>{"full", "hash", "qr:op=mul/add"});
  CHECK(plot.dat ==
        "# full\n1 0.61\n\n\n# hash\n10.001 0.6\n101.21 0.59\n\n\n# qr:op=mul/add\n10.841 0.606\n");
  CHECK(plot.max_ratio == 101.21);
  REQUIRE(plot.full_auc);
  CHECK(*plot.full_auc == 0.61);
  CHECK(auc_plot_data("dcn", records).methods.empty());
}

TEST_CASE("sweep plot script: names holding quotes stay whole gnuplot strings", "[cli][sweep]") {
  const json data = {{"name", "/data/it's \"raw\".csv"}, {"bayes_test_auc", 0.8}};
  json records = json::array();
  records.push_back(ok_record("dlrm", "full", 1.0, 0.61));
  records.push_back(ok_record("dlrm", "hash:note='x'", 10.0, 0.6));
  const std::string script =
      auc_plot_script("test_auc_dlrm", "dlrm", data, auc_plot_data("dlrm", records));
  const std::vector<std::string> expected = {
      "test_auc_dlrm.png",
      "compression ratio (full fp32 table bytes / serving bytes)",
      "test AUC",
      "dlrm on it's \"raw\".csv data: test AUC against compression",
      "test_auc_dlrm.dat",
      "full",
      "test_auc_dlrm.dat",
      "hash:note='x'",
      "gray40",
      "full table (1x)",
      "black",
      "Bayes-optimal"};
  CHECK(gnuplot_strings(script) == expected);
}

TEST_CASE("gnuplot lookup: an absolute path from $PATH, or none", "[cli][sweep]") {
  const std::filesystem::path sh = find_in_path("sh");
  REQUIRE_FALSE(sh.empty());
  CHECK(sh.is_absolute());
  CHECK(find_in_path("embcomp-no-such-program").empty());
}
